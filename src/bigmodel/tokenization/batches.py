"""The batch call's inputs and result: argument checks, pair truncation, ``BatchEncoding``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from bigmodel.errors import BigModelError


class BatchEncoding(dict[str, Any]):
    """The result of ``tok(texts)``: a dict that also answers ``enc.input_ids``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to(self, device: str | torch.device) -> BatchEncoding:
        """A copy with every tensor moved to ``device``."""
        return BatchEncoding(
            {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in self.items()}
        )


def check_str(value: Any, what: str) -> None:
    if not isinstance(value, str):
        raise BigModelError(f"{what} must be a string; got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        # A lone surrogate: how Python carries bytes that were not UTF-8 (argv, stdin, files).
        raise BigModelError(
            f"{what} is not valid Unicode text: lone surrogate {value[exc.start]!r} at "
            f"character {exc.start} (was it read from bytes that are not UTF-8?)"
        ) from None


def as_batch(text: Any, text_pair: Any) -> tuple[list[str], list[str] | None]:
    """(texts, pairs or None) from one text or a list, each checked to be a string."""
    if isinstance(text, str):
        check_str(text, "text")
        if text_pair is not None:
            check_str(text_pair, "text_pair")
        return [text], None if text_pair is None else [text_pair]
    if not isinstance(text, Sequence) or not text:
        raise BigModelError(
            f"text must be a string or a non-empty list of strings; got {text!r}"[:200]
        )
    texts = list(text)
    for i, t in enumerate(texts):
        check_str(t, f"text[{i}]")
    if text_pair is None:
        return texts, None
    if isinstance(text_pair, str) or not isinstance(text_pair, Sequence):
        raise BigModelError("text_pair must be a list of strings when text is a list")
    pairs = list(text_pair)
    if len(pairs) != len(texts):
        raise BigModelError(f"text has {len(texts)} items but text_pair has {len(pairs)}")
    for i, t in enumerate(pairs):
        check_str(t, f"text_pair[{i}]")
    return texts, pairs


def padding_mode(padding: Any) -> str | None:
    """"longest", "max_length" or None (no padding) for a ``padding=`` argument."""
    if padding is True or padding == "longest":
        return "longest"
    if padding == "max_length":
        return "max_length"
    if padding is False or padding == "do_not_pad":
        return None
    raise BigModelError(f'padding must be True, False, "longest" or "max_length"; got {padding!r}')


def check_call_options(
    padding_side: Any, return_tensors: Any, truncation: Any, max_length: Any
) -> None:
    """The batch call's other keywords, each refused in one line naming it."""
    if padding_side not in ("right", "left"):
        raise BigModelError(f'padding_side must be "right" or "left"; got {padding_side!r}')
    if return_tensors not in ("pt", None):
        raise BigModelError(f'return_tensors must be "pt" or None; got {return_tensors!r}')
    if not isinstance(truncation, bool):
        raise BigModelError(f"truncation must be True or False; got {truncation!r}")
    if max_length is not None and (
        not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1
    ):
        raise BigModelError(f"max_length must be a positive integer; got {max_length!r}")


def padded_width(
    lengths: list[int], pad_mode: str | None, limit: int | None, return_tensors: str | None
) -> int | None:
    """The length every row is padded to, or None to leave rows as they are."""
    if pad_mode == "max_length":
        if limit is None:
            raise BigModelError(
                'padding="max_length" needs max_length (this tokenizer has no model_max_length)'
            )
        if max(lengths) > limit:
            raise BigModelError(
                f"a text has {max(lengths)} tokens, more than max_length="
                f"{limit}; pass truncation=True to cut it"
            )
        return limit
    if pad_mode == "longest":
        return max(lengths)
    if return_tensors == "pt" and len(set(lengths)) > 1:
        raise BigModelError(
            "texts have different lengths and padding=False; pass "
            "padding=True or return_tensors=None for ragged lists"
        )
    return None


def longest_first(n1: int, n2: int, budget: int) -> tuple[int, int]:
    """Lengths for a pair cut to ``budget`` tokens, taking from the longer text first.

    The rule of the tokenizers library: the shorter text keeps its length while it fits in
    half the budget; otherwise both get half and the longer one the odd token.
    """
    if n1 + n2 <= budget:
        return n1, n2
    short, long_ = sorted((n1, n2))
    if short <= budget // 2:
        short, long_ = short, budget - short
    else:
        short, long_ = budget // 2, budget - budget // 2
    return (long_, short) if n1 > n2 else (short, long_)
