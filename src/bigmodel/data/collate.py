"""Collators: a list of examples -> one batch of tensors.

Every collator takes ``(items, rng)`` where ``rng`` is a ``numpy.random.Generator`` the
trainer derives from (seed, step, rank, micro-step): the same step always gets the same
masks and pairs, which is what makes a resumed run identical to an uninterrupted one.

- causal LM: ``labels = input_ids`` (the model shifts by one); padding is -100 in labels.
- MLM (Devlin et al. 2019): each non-special token is selected with p = 0.15; a selected
  token becomes [MASK] with p = 0.8, a random token with p = 0.1, stays with p = 0.1;
  ``labels`` holds the original id at selected positions and -100 elsewhere.
- NSP: [CLS] A [SEP] B [SEP]; with p = 0.5 B is replaced by a segment of another document
  (``next_sentence_label`` 1 = random, 0 = the true continuation, as in BERT).
- seq2seq: source padded with its mask; ``labels`` the target (+ EOS), -100 on padding; the
  decoder reads the labels shifted right behind BOS (teacher forcing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

IGNORE_INDEX = -100


def pad_rows(rows: Sequence[Sequence[int] | np.ndarray], value: int, length: int | None = None) -> tuple[Tensor, Tensor]:
    """Right-pad int rows to one length: (ids (B, T), attention_mask (B, T))."""
    length = length or max(len(r) for r in rows)
    ids = torch.full((len(rows), length), value, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        n = min(len(row), length)
        ids[i, :n] = torch.as_tensor(np.asarray(row[:n], dtype=np.int64))
        mask[i, :n] = 1
    return ids, mask


class CausalLMCollator:
    def __init__(self, pad_token_id: int = 0) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, items: Sequence[np.ndarray], rng: np.random.Generator | None = None) -> dict[str, Tensor]:
        ids, mask = pad_rows(items, self.pad_token_id)
        labels = ids.masked_fill(mask == 0, IGNORE_INDEX)
        batch = {"input_ids": ids, "labels": labels}
        if not bool(mask.all()):
            batch["attention_mask"] = mask
        return batch


class MLMMasker:
    """Masked-LM corruption with the 80/10/10 rule; special tokens are never selected."""

    def __init__(
        self,
        mask_token_id: int,
        vocab_size: int,
        special_ids: Sequence[int],
        probability: float = 0.15,
    ) -> None:
        if not 0.0 < probability < 1.0:
            raise ValueError(f"mlm probability must be in (0, 1), got {probability}")
        self.mask_token_id = mask_token_id
        self.probability = probability
        self.special_ids = np.array(sorted(set(special_ids)), dtype=np.int64)
        # Random replacements come from ordinary tokens, so no [CLS]/[SEP] appears mid-text.
        ordinary = np.setdiff1d(np.arange(vocab_size, dtype=np.int64), self.special_ids)
        self.ordinary_ids = torch.as_tensor(ordinary)

    def __call__(self, input_ids: Tensor, rng: np.random.Generator,
                 attention_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(corrupted input_ids, labels), both (B, T); the input tensor is not modified."""
        ids = input_ids.clone()
        eligible = ~torch.from_numpy(np.isin(ids.numpy(), self.special_ids))
        if attention_mask is not None:
            eligible &= attention_mask.bool()
        draws = torch.from_numpy(rng.random((3, *ids.shape)))  # (3, B, T) uniforms in [0, 1)
        selected = eligible & (draws[0] < self.probability)
        labels = torch.where(selected, ids, torch.full_like(ids, IGNORE_INDEX))
        to_mask = selected & (draws[1] < 0.8)
        to_random = selected & ~to_mask & (draws[1] < 0.9)
        ids[to_mask] = self.mask_token_id
        picks = (draws[2] * len(self.ordinary_ids)).long().clamp_(max=len(self.ordinary_ids) - 1)
        ids[to_random] = self.ordinary_ids[picks[to_random]]
        return ids, labels


class MLMCollator:
    """Already tokenized rows (with their special tokens) -> MLM batch."""

    def __init__(self, masker: MLMMasker, pad_token_id: int) -> None:
        self.masker = masker
        self.pad_token_id = pad_token_id

    def __call__(self, items: Sequence[Any], rng: np.random.Generator) -> dict[str, Tensor]:
        ids, mask = pad_rows(items, self.pad_token_id)
        ids, labels = self.masker(ids, rng, mask)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _truncate_pair(a: np.ndarray, b: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop tokens from the longer segment's end until len(a) + len(b) <= budget."""
    la, lb = len(a), len(b)
    while la + lb > budget:
        if la > lb:
            la -= 1
        else:
            lb -= 1
    return a[:la], b[:lb]


class NSPCollator:
    """Sentence pairs (from :class:`~bigmodel.data.text.SentencePairDataset`) -> MLM + NSP batch."""

    def __init__(
        self,
        dataset: Any,
        masker: MLMMasker,
        *,
        cls_token_id: int,
        sep_token_id: int,
        pad_token_id: int,
        max_length: int,
        nsp_probability: float = 0.5,
    ) -> None:
        self.dataset = dataset
        self.masker = masker
        self.cls, self.sep, self.pad = cls_token_id, sep_token_id, pad_token_id
        self.max_length = max_length
        self.nsp_probability = nsp_probability

    def __call__(self, items: Sequence[dict[str, Any]], rng: np.random.Generator) -> dict[str, Tensor]:
        rows: list[np.ndarray] = []
        types: list[np.ndarray] = []
        is_random: list[int] = []
        for item in items:
            a, b = item["a"], item["b"]
            swap = rng.random() < self.nsp_probability
            if swap:
                # From the item's own split, so validation pairs never borrow training text.
                source = item.get("source", self.dataset)
                b = source.random_segment(rng, max(1, self.max_length - 3 - len(a)), item["document"])
            a, b = _truncate_pair(a, b, self.max_length - 3)
            row = np.concatenate([[self.cls], a, [self.sep], b, [self.sep]]).astype(np.int64)
            rows.append(row)
            types.append(np.concatenate([np.zeros(len(a) + 2, np.int64), np.ones(len(b) + 1, np.int64)]))
            is_random.append(int(swap))
        ids, mask = pad_rows(rows, self.pad)
        token_types, _ = pad_rows(types, 0, ids.shape[1])
        ids, labels = self.masker(ids, rng, mask)
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "token_type_ids": token_types,
            "labels": labels,
            "next_sentence_label": torch.tensor(is_random, dtype=torch.long),
        }


class Seq2SeqCollator:
    """(source ids, target ids) pairs -> encoder input + teacher-forced decoder input."""

    def __init__(self, pad_token_id: int, bos_token_id: int, eos_token_id: int | None = None) -> None:
        self.pad, self.bos, self.eos = pad_token_id, bos_token_id, eos_token_id

    def __call__(self, items: Sequence[tuple[Sequence[int], Sequence[int]]],
                 rng: np.random.Generator | None = None) -> dict[str, Tensor]:
        sources = [list(s) for s, _ in items]
        targets = [list(t) + ([self.eos] if self.eos is not None else []) for _, t in items]
        input_ids, attention_mask = pad_rows(sources, self.pad)
        target_ids, target_mask = pad_rows(targets, self.pad)
        labels = target_ids.masked_fill(target_mask == 0, IGNORE_INDEX)
        # y_in = [BOS, y_1, ..., y_{T-1}]: position t predicts y_t having seen y_<t only.
        decoder_input_ids = torch.full_like(target_ids, self.pad)
        decoder_input_ids[:, 0] = self.bos
        decoder_input_ids[:, 1:] = target_ids[:, :-1]
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "decoder_input_ids": decoder_input_ids,
            "labels": labels,
        }


__all__ = [
    "IGNORE_INDEX",
    "CausalLMCollator",
    "MLMCollator",
    "MLMMasker",
    "NSPCollator",
    "Seq2SeqCollator",
    "pad_rows",
]
