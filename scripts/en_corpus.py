"""English pretraining text for tiny-bert-en: the King James Bible plus plain modern English.

    pip download --no-deps gensim==4.4.0 -d runs/wheels      # only for its test data, not installed
    python scripts/en_corpus.py runs/corpora/en.txt --gensim-wheel runs/wheels/gensim-4.4.0-*.whl

- the KJV Bible (``python -m bigmodel.data.corpora bible``: chapters are documents, verses lines);
- the Lee news corpus (``gensim/test/test_data/lee_background.cor``: 300 Australian news stories);
- 206 English Wikipedia articles (``enwiki-latest-pages-articles1.xml-...-shortened.bz2``), the
  wiki markup stripped by the rough rules below (templates, references, tables and files
  dropped, links kept as their text); one paragraph per document.
Without ``--gensim-wheel`` the corpus is the Bible alone. Sentences are split after . ! ? .
"""

from __future__ import annotations

import argparse
import bz2
import html
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bigmodel.data.corpora import bible_text  # noqa: E402

DATA = "gensim/test/test_data/"
WIKI = DATA + "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def sentences(paragraph: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(paragraph) if s.strip()]


def strip_templates(text: str) -> str:
    """Remove {{...}} and {|...|} blocks, nested ones included."""
    out, depth, i = [], 0, 0
    while i < len(text):
        two = text[i:i + 2]
        if two in ("{{", "{|"):
            depth, i = depth + 1, i + 2
        elif two in ("}}", "|}") and depth:
            depth, i = depth - 1, i + 2
        else:
            if not depth:
                out.append(text[i])
            i += 1
    return "".join(out)


def wiki_paragraphs(markup: str) -> list[str]:
    text = html.unescape(markup)
    text = re.sub(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>|<!--.*?-->", "", text, flags=re.S)
    text = strip_templates(text)
    text = re.sub(r"\[\[(?:File|Image|Category):[^\[\]]*(?:\[\[[^\]]*\]\][^\[\]]*)*\]\]", "", text)
    text = re.sub(r"\[\[(?:[^|\]]*\|)?([^\]]*)\]\]", r"\1", text)
    text = re.sub(r"\[https?://\S+\s*([^\]]*)\]", r"\1", text)
    text = re.sub(r"<[^>]+>|'''?", "", text)
    paragraphs = []
    for line in text.split("\n"):
        line = " ".join(line.split())
        if len(line) > 80 and not line.startswith(("=", "*", "#", ":", ";", "|", "!")):
            paragraphs.append(line)
    return paragraphs


def gensim_documents(wheel: Path) -> list[list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        lee = archive.read(DATA + "lee_background.cor").decode("utf-8")
        dump = bz2.decompress(archive.read(WIKI)).decode("utf-8")
    docs = [sentences(story) for story in lee.splitlines() if story.strip()]
    for page in re.findall(r"<text[^>]*>(.*?)</text>", dump, flags=re.S):
        if not page.lstrip().upper().startswith("#REDIRECT"):
            docs.extend(sentences(p) for p in wiki_paragraphs(page))
    return docs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--gensim-wheel", type=Path, help="gensim 4.4.0 wheel (its test data)")
    args = parser.parse_args()
    parts = [bible_text().strip()]
    if args.gensim_wheel:
        parts += ["\n".join(doc) for doc in gensim_documents(args.gensim_wheel) if doc]
    body = "\n\n".join(parts) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(body, encoding="utf-8")
    print(f"wrote {args.out}: {len(body.split()):,} words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
