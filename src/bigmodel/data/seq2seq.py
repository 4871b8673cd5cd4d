"""Sequence-to-sequence batches for teacher forcing.

For a source x and a target y_1..y_T the decoder reads the true target shifted right and
is scored against the target followed by EOS::

    input_ids          x_1 .. x_S                     (B, S)  padded with PAD
    attention_mask     1 .. 1 0 ..                    (B, S)  1 = token, 0 = padding
    decoder_input_ids  BOS y_1 .. y_T                 (B, T+1) padded with PAD
    labels             y_1 .. y_T EOS                 (B, T+1) padded with -100 (ignored)

so that at every position t the decoder, having read y_<t, predicts y_t. The collator
itself lives with the others in ``bigmodel.data.collate``; this module turns text pairs
into its input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch.utils.data import Dataset

from ..errors import BigModelError
from .collate import IGNORE_INDEX, Seq2SeqCollator

__all__ = ["IGNORE_INDEX", "Seq2SeqCollator", "Seq2SeqDataset", "seq2seq_collator"]


class Seq2SeqDataset(Dataset):
    """(source text, target text) pairs, tokenized once: items are
    ``(source_ids, target_ids)`` without special tokens, what the collator takes."""

    def __init__(self, pairs: Sequence[tuple[str, str]], tokenizer: Any, *, max_length: int | None = None) -> None:
        self.pairs = list(pairs)
        sources = [s for s, _ in self.pairs]
        targets = [t for _, t in self.pairs]
        self.source_ids = [tokenizer.encode(s, add_special_tokens=False) for s in sources]
        self.target_ids = [tokenizer.encode(t, add_special_tokens=False) for t in targets]
        if max_length is not None:
            # The target gains one token (BOS in, EOS out) in the collator.
            self.source_ids = [ids[:max_length] for ids in self.source_ids]
            self.target_ids = [ids[: max_length - 1] for ids in self.target_ids]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[list[int], list[int]]:
        return self.source_ids[index], self.target_ids[index]


def seq2seq_collator(tokenizer: Any) -> Seq2SeqCollator:
    """The teacher-forcing collator (``bigmodel.data.collate``) with ``tokenizer``'s pad, BOS
    and EOS ids; a tokenizer without them is an error naming what is missing."""
    ids = {role: getattr(tokenizer, f"{role}_token_id", None) for role in ("pad", "bos", "eos")}
    missing = [role for role, value in ids.items() if value is None]
    if missing:
        name = getattr(tokenizer, "name_or_path", "") or "this tokenizer"
        raise BigModelError(f"a seq2seq tokenizer needs {' and '.join(missing)} tokens; {name} has none")
    return Seq2SeqCollator(ids["pad"], ids["bos"], ids["eos"])
