"""CoNLL-style token-classification data: one "token tag" per line, sentences between blank lines.

    EU B-ORG
    rejects O
    German B-MISC

The token is the first column and the tag the last (CoNLL-2003's four columns work);
``-DOCSTART-`` lines are skipped. Tags are BIO: ``O``, ``B-TYPE`` or ``I-TYPE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import BigModelError


@dataclass
class TaggedSentence:
    tokens: list[str]
    tags: list[str]


def _check_tag(tag: str, where: str) -> None:
    if tag != "O" and not (tag[:2] in ("B-", "I-") and len(tag) > 2):
        raise BigModelError(f"{where}: tag {tag!r} is not BIO (expected O, B-TYPE or I-TYPE)")


def read_conll(path: str | Path) -> list[TaggedSentence]:
    """The sentences of a CoNLL-style file, with one clear error for a malformed line."""
    path = Path(path)
    if not path.is_file():
        raise BigModelError(f"CoNLL file {path} does not exist")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise BigModelError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    sentences: list[TaggedSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    for number, line in enumerate([*lines, ""], start=1):
        columns = line.split()
        if not columns or columns[0] == "-DOCSTART-":
            if tokens:
                sentences.append(TaggedSentence(tokens, tags))
                tokens, tags = [], []
            continue
        if len(columns) < 2:
            raise BigModelError(f"{path}:{number}: expected 'token tag', got {line.strip()[:60]!r}")
        _check_tag(columns[-1], f"{path}:{number}")
        tokens.append(columns[0])
        tags.append(columns[-1])
    if not sentences:
        raise BigModelError(f"{path} holds no tagged sentences")
    return sentences


def label_list(sentences: list[TaggedSentence]) -> list[str]:
    """The tags, "O" first, then by entity type with B- before I-."""
    tags = {t for s in sentences for t in s.tags} | {"O"}
    return sorted(tags, key=lambda t: (t != "O", t[2:], t[:1]))


__all__ = ["TaggedSentence", "label_list", "read_conll"]
