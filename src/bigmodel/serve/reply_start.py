"""A chat reply starts at its first visible character.

After ``Assistant:`` (or a template's assistant tag) a byte-level BPE model writes its first
word with the space that separates words, `` Hello``; the reply a client shows must not begin
with it. Streamed, the first deltas may be only whitespace, so the cut is kept per choice.
"""

from __future__ import annotations


class ReplyStart:
    """Drops the whitespace before each choice's first visible character."""

    def __init__(self) -> None:
        self.started: set[int] = set()

    def __call__(self, index: int, text: str) -> str:
        if index in self.started:
            return text
        text = text.lstrip()
        if text:
            self.started.add(index)
        return text
