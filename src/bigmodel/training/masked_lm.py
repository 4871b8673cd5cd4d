"""Masked-LM training without NSP: ``[task] kind = "mlm"``.

    L = -(1/|M|) Σ_{t ∈ M} log softmax(W_o · LN(GELU(W_t h_t)) + b_o)[x_t]

over the masked positions M (15% of ordinary tokens, 80/10/10 rule). Only the hidden states
of M go through the vocabulary projection, so a 30k-entry vocabulary costs 15% of what the
full (B, T, vocab) logits would.

Continued pretraining of a pretrained encoder (``model.pretrained = "all-minilm-l6-v2"``,
``model.architecture = "BertForMaskedLM"``): ``freeze_embeddings`` and ``freeze_layers = k``
keep the embeddings and the k lowest layers as they are, so only the upper layers and the
MLM head learn, and a shipped copy needs only those (``scripts/ship_compact.py``).

A row is a chunk of consecutive sentences of one document (the layout of
``bigmodel prepare``), ``[CLS] chunk [SEP]``, at most ``data.seq_len`` tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import BigModelError
from .objectives import Objective, _require_data, bert_model_defaults, register_objective


class ChunkRows:
    """``[CLS] sentences [SEP]`` rows from a :class:`~bigmodel.data.text.SentencePairDataset`."""

    def __init__(self, pairs: Any, cls_token_id: int, sep_token_id: int, max_length: int) -> None:
        self.pairs = pairs
        self.cls, self.sep, self.max_length = cls_token_id, sep_token_id, max_length

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> np.ndarray:
        first, end, _ = self.pairs.chunks[index]
        body = self.pairs._tokens(first, end)[: self.max_length - 2]
        return np.concatenate([[self.cls], body, [self.sep]]).astype(np.int64)


def freeze_lower_layers(model: Any, layers: int, embeddings: bool) -> None:
    """requires_grad = False for the embeddings (when asked) and the ``layers`` lowest layers."""
    body = model.bert
    if layers < 0 or layers > len(body.blocks):
        raise BigModelError(f"task.freeze_layers must be between 0 and {len(body.blocks)}; got {layers}")
    frozen = list(body.blocks)[:layers]
    if embeddings:
        frozen.append(body.embeddings)
    for module in frozen:
        for param in module.parameters():
            param.requires_grad = False
    # The decoder is tied to the token embeddings: frozen with them, its bias still learns.


@register_objective
class MaskedLM(Objective):
    """BERT masked-LM alone: L_MLM on 15% of tokens (80% [MASK], 10% random, 10% kept)."""

    name = "mlm"
    default_architecture = "BertForMaskedLM"

    @dataclass
    class Options:
        mlm_probability: float = 0.15
        freeze_embeddings: bool = False
        freeze_layers: int = 0

    def model_defaults(self) -> dict[str, Any]:
        return bert_model_defaults(self)

    def build_model(self) -> Any:
        model = super().build_model()
        if not hasattr(model, "mlm_head"):
            raise BigModelError(f"task.kind 'mlm' needs a model with an MLM head (BertForMaskedLM or "
                                f"BertForPreTraining); got {type(model).__name__}")
        freeze_lower_layers(model, self.options.freeze_layers, self.options.freeze_embeddings)
        return model

    def build_datasets(self) -> tuple[Any, Any | None]:
        from ..data.collate import MLMCollator, MLMMasker
        from ..data.text import SentencePairDataset, TokenCorpus

        tok = self.tokenizer
        missing = [r for r in ("cls", "sep", "mask", "pad") if tok is None or getattr(tok, f"{r}_token_id") is None]
        if missing:
            raise BigModelError(f"task.kind 'mlm' needs a WordPiece tokenizer with [CLS] [SEP] [MASK] [PAD]; "
                                f"this one lacks {', '.join(missing)}")
        path = _require_data(self.config)
        seq_len = self.config.data.seq_len

        def rows(split: str) -> ChunkRows:
            # seq_len + 1: SentencePairDataset keeps room for three specials, a row needs two.
            pairs = SentencePairDataset(TokenCorpus.open(path, split, len(tok)), seq_len + 1)
            return ChunkRows(pairs, tok.cls_token_id, tok.sep_token_id, seq_len)

        masker = MLMMasker(tok.mask_token_id, len(tok), tok.all_special_ids, self.options.mlm_probability)
        self._collator = MLMCollator(masker, tok.pad_token_id)
        return rows("train"), rows("validation")

    def collate(self, items: list[Any], rng: np.random.Generator) -> dict[str, Tensor]:
        return self._collator(items, rng)

    def loss(self, model: Any, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        labels = batch["labels"]
        hidden = model.bert(batch["input_ids"], batch["attention_mask"]).last_hidden_state  # (B, T, d)
        selected = labels != -100
        logits = model.mlm_head(hidden[selected]).float()  # (|M|, vocab)
        targets = labels[selected]
        loss = F.cross_entropy(logits, targets) if len(targets) else logits.sum() * 0.0
        with torch.no_grad():
            accuracy = float((logits.argmax(-1) == targets).float().mean()) if len(targets) else 0.0
        return loss, {"mlm_loss": float(loss.detach()), "mlm_accuracy": accuracy}

    def summarize(self, metrics: dict[str, float]) -> dict[str, float]:
        import math

        if "mlm_loss" in metrics:
            metrics["perplexity"] = math.exp(min(metrics["mlm_loss"], 50.0))
        return metrics
