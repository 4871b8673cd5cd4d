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

__all__ = ["IGNORE_INDEX", "Seq2SeqCollator", "Seq2SeqDataset", "seq2seq_collator", "seq2seq_special_ids"]


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


# A BERT-style tokenizer has no BOS/EOS: its [CLS] starts the decoder and [SEP] ends it, as in
# transformers' BERT2BERT recipe (decoder_start_token_id = cls, eos_token_id = sep).
_FALLBACK = {"bos": "cls", "eos": "sep"}
_HOW_TO_ADD = {
    "pad": "a BPE from `bigmodel tokenizer train` carries <pad> (retrain it), or add a pad token "
           "(transformers: tokenizer.add_special_tokens({'pad_token': '<pad>'}); save_pretrained)",
    "bos": "add a bos_token (or a cls_token) to its tokenizer_config.json",
    "eos": "add an eos_token (or a sep_token) to its tokenizer_config.json",
}


def seq2seq_special_ids(tokenizer: Any) -> dict[str, int]:
    """The pad, BOS and EOS ids a seq2seq run needs ({"pad", "bos", "eos"}): the tokenizer's
    own, else [CLS] / [SEP] for BOS / EOS; a missing one is an error saying how to add it.
    PAD must differ from BOS and EOS: its embedding is held at zero and gets no gradient."""
    ids: dict[str, int] = {}
    for role in ("pad", "bos", "eos"):
        value = getattr(tokenizer, f"{role}_token_id", None)
        if value is None and role in _FALLBACK:
            value = getattr(tokenizer, f"{_FALLBACK[role]}_token_id", None)
        if value is None:
            name = getattr(tokenizer, "name_or_path", "") or "this tokenizer"
            raise BigModelError(f"a seq2seq tokenizer needs a {role} token; {name} has none: {_HOW_TO_ADD[role]}")
        ids[role] = int(value)
    if ids["pad"] in (ids["bos"], ids["eos"]):
        raise BigModelError(f"a seq2seq tokenizer needs a pad token distinct from BOS/EOS (all are id {ids['pad']}): "
                            + _HOW_TO_ADD["pad"])
    return ids


def seq2seq_collator(tokenizer: Any) -> Seq2SeqCollator:
    """The teacher-forcing collator (``bigmodel.data.collate``) with the ids of
    :func:`seq2seq_special_ids`."""
    ids = seq2seq_special_ids(tokenizer)
    return Seq2SeqCollator(ids["pad"], ids["bos"], ids["eos"])
