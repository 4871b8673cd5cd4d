"""The seq2seq objective: teacher-forced token cross-entropy for the encoder-decoder.

    L = -(1/N) Σ_t log p(y_t | y_<t, x)        (label smoothing ε mixes in ε/V of uniform)

``[task] kind = "seq2seq"``. The pairs come either from a generator the project ships
(``dataset = "dates"``: spelled-out dates -> ISO dates, see :mod:`bigmodel.data.dates`) or
from files: ``data.path`` (and ``data.validation_path``) holding one pair per line, as
``source<TAB>target`` (.tsv) or ``{"source": ..., "target": ...}`` (.jsonl).

Evaluation reports ``exact_match``, the share of examples whose every target token and the
EOS are the decoder's top choice under teacher forcing. That is the accuracy of greedy
decoding itself: greedy follows the true prefix exactly as long as every argmax is right,
so it writes the target and stops if and only if all of them are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import BigModelError
from .objectives import Objective, register_objective

DATASETS = ("dates",)


def read_pairs(path: str | Path) -> list[tuple[str, str]]:
    """(source, target) pairs from a .tsv (source<TAB>target) or .jsonl file."""
    path = Path(path)
    if not path.is_file():
        raise BigModelError(f"seq2seq data file {path} does not exist")
    if path.suffix not in (".tsv", ".jsonl"):
        raise BigModelError(f"seq2seq data file {path}: expected a .tsv or .jsonl file")
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if path.suffix == ".tsv":
            fields = line.split("\t")
            if len(fields) != 2:
                raise BigModelError(f"{path}:{number}: expected source<TAB>target, got {len(fields)} fields")
            pairs.append((fields[0], fields[1]))
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BigModelError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in ("source", "target")):
            raise BigModelError(f"{path}:{number}: expected {{\"source\": str, \"target\": str}}")
        pairs.append((record["source"], record["target"]))
    if not pairs:
        raise BigModelError(f"seq2seq data file {path} holds no pairs")
    return pairs


def sequence_metrics(logits: Tensor, labels: Tensor) -> dict[str, float]:
    """Token accuracy and exact match (every labelled position right) under teacher forcing."""
    scored = labels != -100  # (B, T)
    right = (logits.argmax(-1) == labels) | ~scored
    return {
        "token_accuracy": float((right & scored).sum()) / max(1, int(scored.sum())),
        "exact_match": float(right.all(dim=-1).float().mean()),
    }


@register_objective
class Seq2Seq(Objective):
    """Teacher forcing on (source, target) pairs; see the module docstring."""

    name = "seq2seq"
    default_architecture = "BigmodelTransformer"

    @dataclass
    class Options:
        dataset: str = ""  # "dates" = generate the pairs; "" = read data.path
        train_examples: int = 50000  # generated pairs for training
        eval_examples: int = 1000  # generated pairs for evaluation (dates never seen in training)
        data_seed: int = 0
        label_smoothing: float = 0.0

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        opts = self.options
        if opts.dataset and opts.dataset not in DATASETS:
            raise BigModelError(f"task.dataset must be one of {', '.join(DATASETS)} or empty, got {opts.dataset!r}")
        if not opts.dataset and not config.data.path:
            raise BigModelError('config: set task.dataset = "dates" or data.path to a .tsv / .jsonl of pairs')
        if opts.train_examples < 1 or opts.eval_examples < 0:
            raise BigModelError("task.train_examples must be >= 1 and task.eval_examples >= 0")
        if not 0.0 <= opts.label_smoothing < 1.0:
            raise BigModelError(f"task.label_smoothing must be in [0, 1), got {opts.label_smoothing}")
        self._collator: Any = None

    def build_tokenizer(self) -> Any:
        if self.config.data.tokenizer:
            from ..tokenization import load_tokenizer

            return load_tokenizer(self.config.data.tokenizer)
        if self.options.dataset == "dates":
            from ..data.dates import char_tokenizer

            return char_tokenizer()
        raise BigModelError("config data.tokenizer is empty: a seq2seq run on files needs a tokenizer "
                            "with BOS, EOS and PAD tokens")

    def model_defaults(self) -> dict[str, Any]:
        from ..data.seq2seq import seq2seq_special_ids

        tok = self.tokenizer
        out: dict[str, Any] = {"max_seq_len": self.config.data.seq_len}
        if tok is not None:
            ids = seq2seq_special_ids(tok)
            out.update(vocab_size=len(tok), pad_token_id=ids["pad"], bos_token_id=ids["bos"],
                       eos_token_id=ids["eos"])
        return out

    def build_datasets(self) -> tuple[Any, Any | None]:
        from ..data.seq2seq import Seq2SeqDataset, seq2seq_collator

        opts = self.options
        data = self.config.data
        self._collator = seq2seq_collator(self.tokenizer)
        if opts.dataset == "dates":
            from ..data.dates import make_pairs

            train_pairs = make_pairs(opts.train_examples, seed=opts.data_seed, split="train")
            eval_pairs = make_pairs(opts.eval_examples, seed=opts.data_seed, split="test")
        else:
            train_pairs = read_pairs(data.path)
            eval_pairs = read_pairs(data.validation_path) if data.validation_path else []
        train = Seq2SeqDataset(train_pairs, self.tokenizer, max_length=data.seq_len)
        val = Seq2SeqDataset(eval_pairs, self.tokenizer, max_length=data.seq_len) if eval_pairs else None
        return train, val

    def collate(self, items: list[Any], rng: np.random.Generator) -> dict[str, Tensor]:
        return self._collator(items, rng)

    def loss(self, model: Any, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        out = model(**batch, label_smoothing=self.options.label_smoothing)
        with torch.no_grad():
            metrics = sequence_metrics(out.logits, batch["labels"])
        return out.loss, metrics

    def count_tokens(self, batch: dict[str, Tensor]) -> int:
        """Source plus target tokens."""
        return int(batch["attention_mask"].sum()) + int((batch["labels"] != -100).sum())

    def flops_per_token(self, model: Any) -> float | None:
        """≈ 6 FLOPs per weight a token passes through: a source token the encoder's, a target
        token the decoder's and the output layer's; averaged as if sources and targets were
        equally long, attention scores left out."""
        cfg = model.config
        d, f = cfg.d_model, cfg.d_ff
        encoder_layer = 4 * d * d + 2 * d * f
        decoder_layer = 8 * d * d + 2 * d * f
        per_token = (cfg.n_encoder_layers * encoder_layer + cfg.n_decoder_layers * decoder_layer
                     + d * cfg.tgt_vocab_size) / 2
        return 6.0 * per_token





@torch.inference_mode()
def exact_match_accuracy(model: Any, tokenizer: Any, pairs: list[tuple[str, str]], *, batch_size: int = 256,
                         num_beams: int = 1, max_new_tokens: int | None = None) -> float:
    """Share of ``pairs`` whose generated target equals the reference string exactly."""
    from ..data.seq2seq import Seq2SeqDataset, seq2seq_collator

    if not pairs:
        raise BigModelError("exact_match_accuracy needs at least one (source, target) pair")
    collate = seq2seq_collator(tokenizer)
    data = Seq2SeqDataset(pairs, tokenizer)
    longest = max(len(t) for t in data.target_ids) + 1
    was_training = model.training
    model.eval()
    right = 0
    for start in range(0, len(data), batch_size):
        rows = range(start, min(start + batch_size, len(data)))
        batch = collate([data[i] for i in rows])
        out = model.generate(batch["input_ids"], attention_mask=batch["attention_mask"],
                             max_new_tokens=max_new_tokens or longest, num_beams=num_beams)
        texts = tokenizer.batch_decode(out, skip_special_tokens=True)
        right += sum(text == pairs[i][1] for text, i in zip(texts, rows, strict=True))
    model.train(was_training)
    return right / len(pairs)


__all__ = ["DATASETS", "Seq2Seq", "exact_match_accuracy", "read_pairs", "sequence_metrics"]
