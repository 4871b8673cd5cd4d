"""A text longer than the model's context as windows that cover all of it.

Truncation (transformers' choice for classification) keeps the first ``max_length`` tokens
and drops the rest; a review whose verdict comes at its end is then classified on its
opening. Windows keep every token instead: a text of n body tokens (its special tokens
aside) with room r = max_length - specials becomes k = ceil(n / r) windows of r tokens,
evenly spaced from the start to the end,

    start_j = round(j · (n - r) / (k - 1)),  j = 0 .. k-1        (k = 1: the whole text)

so consecutive windows overlap by (k·r - n) / (k - 1) tokens on average and every window is
full. Each window is wrapped in the text's own special tokens ([CLS] … [SEP]). A classifier
then reads the text as the mean of its windows' logits (training.classification and
tasks.text_classification do that); a text that fits is one window, exactly as truncation
would encode it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import BigModelError

__all__ = ["LONG_TEXT_MODES", "TextWindows", "check_long_texts", "mean_over_windows", "pad_rows",
           "text_windows"]

LONG_TEXT_MODES = ("truncate", "windows")


def check_long_texts(mode: str, where: str = "long_texts") -> str:
    """``mode`` if it is one of :data:`LONG_TEXT_MODES`, else one error line naming ``where``."""
    if mode not in LONG_TEXT_MODES:
        raise BigModelError(f"{where} must be one of {', '.join(LONG_TEXT_MODES)}, got {mode!r}")
    return mode


@dataclass
class TextWindows:
    """Window w of text ``owner[w]``: ``input_ids[w]`` and ``token_type_ids[w]`` (no padding)."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    owner: list[int]

    def of_text(self, i: int) -> list[int]:
        """The window indices of text i, in order."""
        return [w for w, o in enumerate(self.owner) if o == i]


def _window_starts(n: int, room: int) -> list[int]:
    count = max(1, math.ceil(n / room))
    if count == 1:
        return [0]
    return [round(j * (n - room) / (count - 1)) for j in range(count)]


def text_windows(tokenizer: Any, texts: Sequence[str], max_length: int) -> TextWindows:
    """Every text of ``texts`` as one or more windows of at most ``max_length`` tokens."""
    backend = getattr(tokenizer, "backend", None)
    if backend is None:
        raise BigModelError("long_texts='windows' needs a bigmodel Tokenizer")
    room = max_length - tokenizer.num_special_tokens_to_add(False)
    if room < 1:
        raise BigModelError(f"max_length={max_length} leaves no room for text beside the special tokens")
    out = TextWindows([], [], [])
    for i, encoding in enumerate(backend.encode_batch(list(texts), add_special_tokens=True)):
        ids, types, special = encoding.ids, encoding.type_ids, encoding.special_tokens_mask
        # The post-processor's tokens around the text: a leading and a trailing run of specials.
        head = next((j for j, s in enumerate(special) if not s), len(ids))
        tail = next((j for j in range(len(ids), head, -1) if not special[j - 1]), head)
        body = range(head, tail)
        for start in _window_starts(len(body), room):
            keep = [*range(head), *body[start : start + room], *range(tail, len(ids))]
            out.input_ids.append([ids[j] for j in keep])
            out.token_type_ids.append([types[j] for j in keep])
            out.owner.append(i)
    return out


def pad_rows(input_ids: Sequence[Sequence[int]], token_type_ids: Sequence[Sequence[int]] | None,
             pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` (and ``token_type_ids``), each (B, T)."""
    width = max(len(row) for row in input_ids)
    ids = torch.full((len(input_ids), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(input_ids), width), dtype=torch.long)
    for r, row in enumerate(input_ids):
        ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[r, : len(row)] = 1
    batch = {"input_ids": ids, "attention_mask": mask}
    if token_type_ids is not None:
        types = torch.zeros((len(input_ids), width), dtype=torch.long)
        for r, row in enumerate(token_type_ids):
            types[r, : len(row)] = torch.tensor(row, dtype=torch.long)
        batch["token_type_ids"] = types
    return batch


def mean_over_windows(logits: torch.Tensor, owner: torch.Tensor, texts: int) -> torch.Tensor:
    """(W, C) window logits -> (texts, C): logits(x) = (1/k) Σ_j logits(window_j of x)."""
    sums = torch.zeros(texts, logits.shape[-1], dtype=logits.dtype, device=logits.device)
    sums.index_add_(0, owner, logits)
    counts = torch.bincount(owner, minlength=texts).clamp_min(1).to(logits.dtype)
    return sums / counts[:, None]
