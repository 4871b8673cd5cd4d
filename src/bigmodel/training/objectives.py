"""Objectives: what the one training loop optimizes. ``[task] kind = ...`` picks one.

An objective builds the model and the datasets, turns examples into batches, and scores a
batch. The loop in :mod:`bigmodel.training.trainer` does everything else (optimizer, schedule,
accumulation, bf16, evaluation, checkpoints, DDP). To add one, from any module::

    from dataclasses import dataclass
    from bigmodel.training.objectives import Objective, register_objective

    @register_objective
    class Regression(Objective):
        name = "regression"                      # [task] kind = "regression"
        @dataclass
        class Options:                           # extra [task] keys, checked like the rest
            target_column: str = "y"
        def build_model(self): ...               # a BigModel (save_pretrained-able)
        def build_datasets(self): ...            # (train, validation or None): len + getitem
        def collate(self, items, rng): ...       # -> dict of tensors (rng: numpy Generator)
        def loss(self, model, batch): ...        # -> (scalar loss, {"metric": float})

and, so ``kind`` resolves without an import, add ``"regression": "my.module"`` to
:data:`OBJECTIVE_MODULES`. ``self.config`` is the whole :class:`~bigmodel.training.config.Config`;
``self.options`` the parsed ``Options``; ``self.tokenizer`` what ``build_tokenizer`` returned
(saved beside every checkpoint).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import BigModelError, did_you_mean
from .config import Config, parse_section

OBJECTIVES: dict[str, type[Objective]] = {}

# kind -> module that registers it on import (for objectives defined outside this file).
OBJECTIVE_MODULES: dict[str, str] = {
    "seq2seq": "bigmodel.training.seq2seq",
    "classification": "bigmodel.training.classification",
    "mlm": "bigmodel.training.masked_lm",
    "image_classification": "bigmodel.training.image_classification",
    "question_answering": "bigmodel.training.question_answering",
    "token_classification": "bigmodel.training.token_classification",
    "detection": "bigmodel.training.detection",
}


def register_objective(cls: type[Objective]) -> type[Objective]:
    """Class decorator: make ``cls`` available as ``[task] kind = cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a name")
    OBJECTIVES[cls.name] = cls
    return cls


def get_objective(kind: str) -> type[Objective]:
    if kind not in OBJECTIVES and kind in OBJECTIVE_MODULES:
        try:
            importlib.import_module(OBJECTIVE_MODULES[kind])
        except ModuleNotFoundError as exc:
            raise BigModelError(f"task.kind {kind!r} is not available in this installation ({exc})") from None
    if kind not in OBJECTIVES:
        known = sorted(set(OBJECTIVES) | set(OBJECTIVE_MODULES))
        raise BigModelError(f"unknown task.kind {kind!r}{did_you_mean(kind, known)}; choose one of {', '.join(known)}")
    return OBJECTIVES[kind]


class Objective:
    """Base class; see the module docstring. Override what differs from the defaults."""

    name: ClassVar[str] = ""
    default_architecture: ClassVar[str] = ""
    Options: ClassVar[type | None] = None

    def __init__(self, config: Config) -> None:
        self.config = config
        if self.Options is not None:
            self.options = parse_section(self.Options, config.task.options, "task")
        elif config.task.options:
            key = next(iter(config.task.options))
            raise BigModelError(f"unknown config key 'task.{key}' (task.kind {self.name!r} takes only 'kind')")
        else:
            self.options = None
        self.tokenizer: Any = None

    # -- building ---------------------------------------------------------------------
    def build_tokenizer(self) -> Any:
        """``data.tokenizer`` if set, else the one saved with the prepared data, else None."""
        from ..tokenization import load_tokenizer

        if self.config.data.tokenizer:
            return load_tokenizer(self.config.data.tokenizer)
        if self.config.data.path:
            from ..data.text import load_corpus_tokenizer

            return load_corpus_tokenizer(self.config.data.path)
        return None

    def model_defaults(self) -> dict[str, Any]:
        """Config values implied by the data (vocab size, special ids); the TOML wins."""
        return {}

    def build_model(self) -> Any:
        return build_model(self.config, self.default_architecture, self.model_defaults())

    def build_datasets(self) -> tuple[Any, Any | None]:
        raise NotImplementedError

    def collate(self, items: list[Any], rng: np.random.Generator) -> dict[str, Tensor]:
        raise NotImplementedError

    def loss(self, model: Any, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        out = model(**batch)
        return out.loss, {}

    # -- reporting --------------------------------------------------------------------
    def count_tokens(self, batch: dict[str, Tensor]) -> int:
        """Tokens (or examples) a batch feeds the model, for the tokens/s figure."""
        mask = batch.get("attention_mask")
        if mask is not None:
            return int(mask.sum())
        ids = batch.get("input_ids")
        return int(ids.numel()) if ids is not None else len(next(iter(batch.values())))

    def flops_per_token(self, model: Any) -> float | None:
        """Training FLOPs per token: 3 × (2·N_mm + attention), N_mm the weights a token meets
        in matrix multiplies (layers + output layer, no embedding lookups); see train/flops.py."""
        from .flops import training_flops_per_token

        return training_flops_per_token(model, self.config.data.seq_len)

    def summarize(self, metrics: dict[str, float]) -> dict[str, float]:
        """Derived evaluation figures (perplexity...) from averaged metrics."""
        return metrics

    def save_artifacts(self, directory: Any) -> None:
        """Files that travel with every checkpoint besides the weights (the tokenizer)."""
        if self.tokenizer is not None and hasattr(self.tokenizer, "save_pretrained"):
            self.tokenizer.save_pretrained(directory)


def _architectures() -> dict[str, Callable[[], Any]]:
    from ..models.families import family_maps

    out: dict[str, Callable[[], Any]] = {}
    for family_map in family_maps():
        out.update(family_map.architectures)
    return out


def build_model(config: Config, default_architecture: str, defaults: dict[str, Any]) -> Any:
    """The model ``[model]`` describes: pretrained weights, a preset, or an architecture."""
    from .. import hub

    m = config.model
    if m.pretrained:
        if m.config:
            key = next(iter(m.config))
            raise BigModelError(f"config model.config.{key} cannot change a pretrained model; remove it or model.pretrained")
        return hub.load(m.pretrained, architecture=m.architecture or None).train()
    if m.preset:
        if m.architecture:
            raise BigModelError("config: set model.preset or model.architecture, not both")
        try:
            return hub.create(m.preset, **(defaults | m.config))
        except BigModelError as exc:
            raise BigModelError(f"config model: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise BigModelError(f"config model.config: {exc}") from None
    name = m.architecture or default_architecture
    classes = _architectures()
    if name not in classes:
        raise BigModelError(f"unknown model.architecture {name!r}{did_you_mean(name, list(classes))}; "
                            f"choose one of {', '.join(sorted(classes))}")
    cls = classes[name]()
    try:
        model_config = cls.config_class.from_dict(defaults | m.config)
    except BigModelError as exc:
        raise BigModelError(f"config model.config: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise BigModelError(f"config model.config: {exc}") from None
    return cls(model_config)


def _require_data(config: Config) -> str:
    if not config.data.path:
        raise BigModelError("config data.path is empty: point it at a folder from `bigmodel prepare`")
    return config.data.path


@register_objective
class CausalLM(Objective):
    """Next-token prediction on token windows: L = -mean log p(x_{i+1} | x_≤i)."""

    name = "causal_lm"
    default_architecture = "GPT2LMHeadModel"

    def model_defaults(self) -> dict[str, Any]:
        tok = self.tokenizer
        if tok is None:
            return {"max_seq_len": self.config.data.seq_len}
        return {
            "vocab_size": len(tok),
            "max_seq_len": self.config.data.seq_len,
            "bos_token_id": tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id,
            "eos_token_id": tok.eos_token_id,
            "pad_token_id": tok.pad_token_id,
        }

    def build_datasets(self) -> tuple[Any, Any | None]:
        from ..data.text import CausalLMDataset, TokenCorpus

        path = _require_data(self.config)
        vocab = len(self.tokenizer) if self.tokenizer is not None else None
        train = CausalLMDataset(TokenCorpus.open(path, "train", vocab), self.config.data.seq_len)
        val = CausalLMDataset(TokenCorpus.open(path, "validation", vocab), self.config.data.seq_len)
        return train, val

    def collate(self, items: list[Any], rng: np.random.Generator) -> dict[str, Tensor]:
        from ..data.collate import CausalLMCollator

        return CausalLMCollator()(items, rng)

    def summarize(self, metrics: dict[str, float]) -> dict[str, float]:
        if "loss" in metrics:
            metrics["perplexity"] = math.exp(min(metrics["loss"], 50.0))
        return metrics


def bert_model_defaults(objective: Objective) -> dict[str, Any]:
    """A BERT sized to the data: context = seq_len, vocabulary and [PAD] from the tokenizer."""
    tok = objective.tokenizer
    out: dict[str, Any] = {"max_seq_len": objective.config.data.seq_len}
    if tok is not None:
        out["vocab_size"] = len(tok)
        if tok.pad_token_id is not None:
            out["pad_token_id"] = tok.pad_token_id
    return out


@register_objective
class MaskedLMWithNSP(Objective):
    """BERT pretraining: L = L_MLM (15% of tokens, 80/10/10) + L_NSP (50% random B)."""

    name = "mlm_nsp"
    default_architecture = "BertForPreTraining"

    @dataclass
    class Options:
        mlm_probability: float = 0.15
        nsp_probability: float = 0.5

    def model_defaults(self) -> dict[str, Any]:
        return bert_model_defaults(self)

    def _check_tokenizer(self) -> Any:
        tok = self.tokenizer
        missing = [r for r in ("cls", "sep", "mask", "pad") if tok is None or getattr(tok, f"{r}_token_id") is None]
        if missing:
            raise BigModelError(
                f"task.kind 'mlm_nsp' needs a WordPiece tokenizer with [CLS] [SEP] [MASK] [PAD]; "
                f"this one lacks {', '.join(missing)} (train one with `bigmodel tokenizer train --kind wordpiece`)"
            )
        return tok

    def build_datasets(self) -> tuple[Any, Any | None]:
        from ..data.collate import MLMMasker, NSPCollator
        from ..data.text import SentencePairDataset, TokenCorpus

        tok = self._check_tokenizer()
        path = _require_data(self.config)
        seq_len = self.config.data.seq_len
        train = SentencePairDataset(TokenCorpus.open(path, "train", len(tok)), seq_len)
        val = SentencePairDataset(TokenCorpus.open(path, "validation", len(tok)), seq_len)
        masker = MLMMasker(tok.mask_token_id, len(tok), tok.all_special_ids, self.options.mlm_probability)
        self._collator = NSPCollator(train, masker, cls_token_id=tok.cls_token_id, sep_token_id=tok.sep_token_id,
                                     pad_token_id=tok.pad_token_id, max_length=seq_len,
                                     nsp_probability=self.options.nsp_probability)
        return train, val

    def collate(self, items: list[Any], rng: np.random.Generator) -> dict[str, Tensor]:
        return self._collator(items, rng)

    def loss(self, model: Any, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        from ..models.bert import mlm_loss

        labels = batch["labels"]
        nsp_labels = batch["next_sentence_label"]
        out = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        l_mlm = mlm_loss(out.mlm_logits, labels)
        l_nsp = F.cross_entropy(out.nsp_logits.float(), nsp_labels)
        with torch.no_grad():
            selected = labels != -100
            correct = (out.mlm_logits.argmax(-1) == labels) & selected
            mlm_acc = float(correct.sum()) / max(1, int(selected.sum()))
            nsp_acc = float((out.nsp_logits.argmax(-1) == nsp_labels).float().mean())
        metrics = {"mlm_loss": float(l_mlm.detach()), "nsp_loss": float(l_nsp.detach()), "mlm_accuracy": mlm_acc, "nsp_accuracy": nsp_acc}
        return l_mlm + l_nsp, metrics

    def summarize(self, metrics: dict[str, float]) -> dict[str, float]:
        if "mlm_loss" in metrics:
            metrics["perplexity"] = math.exp(min(metrics["mlm_loss"], 50.0))
        return metrics


__all__ = [
    "OBJECTIVES",
    "OBJECTIVE_MODULES",
    "CausalLM",
    "MaskedLMWithNSP",
    "Objective",
    "build_model",
    "get_objective",
    "register_objective",
]
