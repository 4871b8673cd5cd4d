"""Streaming: text deltas that never split a character.

Byte-level BPE tokens are bytes, not characters: one Chinese character is three UTF-8
bytes and may be spread over two or three tokens, an emoji over four. Decoding such a
partial sequence gives U+FFFD (the replacement character). :class:`TextDeltas` holds text
back while it ends in U+FFFD and emits it once the character is complete, so the deltas
concatenate exactly to ``tokenizer.decode(all tokens)``.

To keep each step O(1) it decodes only a short window: tokens from ``prefix`` (already
emitted, kept as left context because decoding can depend on the previous token, e.g. a
leading space) to the end, and emits what lies beyond the prefix's text.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch import Tensor

REPLACEMENT = "\ufffd"


class TextDeltas:
    """Feed token ids one at a time; get back the newly completed text (possibly "")."""

    def __init__(self, tokenizer: Any, skip_special_tokens: bool = True) -> None:
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        self.ids: list[int] = []
        self.prefix = 0  # ids[prefix:read] decode to text already emitted (the left context)
        self.read = 0  # ids before `read` have been emitted

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=self.skip_special_tokens)

    def push(self, token_id: int) -> str:
        self.ids.append(int(token_id))
        emitted = self._decode(self.ids[self.prefix: self.read])
        text = self._decode(self.ids[self.prefix:])
        if text.endswith(REPLACEMENT) or len(text) <= len(emitted) or not text.startswith(emitted):
            return ""
        self.prefix, self.read = self.read, len(self.ids)
        return text[len(emitted):]

    def flush(self) -> str:
        """What is left at the end (a truly broken byte sequence comes out as U+FFFD)."""
        emitted = self._decode(self.ids[self.prefix: self.read])
        text = self._decode(self.ids[self.prefix:])
        self.prefix = self.read = len(self.ids)
        return text[len(emitted):] if text.startswith(emitted) else text


class TextIteratorStreamer:
    """A ``streamer=`` for :func:`bigmodel.decoding.generate` that collects text deltas of
    row 0 (skipping the prompt); iterate over ``deltas`` afterwards, or subclass ``on_text``."""

    def __init__(self, tokenizer: Any, skip_prompt: bool = True, skip_special_tokens: bool = True) -> None:
        self.decoder = TextDeltas(tokenizer, skip_special_tokens)
        self.skip_prompt = skip_prompt
        self._seen_prompt = False
        self.deltas: list[str] = []

    def on_text(self, text: str) -> None:
        if text:
            self.deltas.append(text)

    def put(self, value: Tensor) -> None:
        if not self._seen_prompt:
            self._seen_prompt = True
            if self.skip_prompt:
                return
        ids = value[0].tolist() if value.dim() > 1 else [int(value[0])]
        for token_id in ids:
            self.on_text(self.decoder.push(token_id))

    def end(self) -> None:
        self.on_text(self.decoder.flush())


def stream(model: Any, input_ids: Tensor, tokenizer: Any, attention_mask: Tensor | None = None,
           skip_special_tokens: bool = True, **kwargs: Any) -> Iterator[str]:
    """Text deltas of the continuation of one prompt (input_ids (1, T)), as they are decoded.

    Takes the keywords of :func:`bigmodel.decoding.generate` (no beam search).
    """
    from ..errors import BigModelError
    from .search import DecodeLoop

    if input_ids.dim() != 2 or input_ids.shape[0] != 1:
        raise BigModelError(f"stream takes one prompt, input_ids of shape (1, T); got {tuple(input_ids.shape)}")
    kwargs.setdefault("tokenizer", tokenizer)
    loop = DecodeLoop(model, input_ids, attention_mask, **kwargs)
    deltas = TextDeltas(tokenizer, skip_special_tokens)
    for tokens in loop:
        text = deltas.push(int(tokens[0]))
        if text:
            yield text
    tail = deltas.flush()
    if tail:
        yield tail
