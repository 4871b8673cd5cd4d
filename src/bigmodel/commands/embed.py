"""`bigmodel embed`: sentence embeddings, or a small semantic search with --query."""

from __future__ import annotations

import argparse
from typing import Any

from ..devices import add_device_argument
from . import add_parser, positive_int, print_json
from .text_arguments import texts_from_arguments


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "embed",
        "embed sentences (mean pooling + L2 norm); rank them against --query",
        '  bigmodel embed "a cat sat" "a dog ran" --model all-minilm-l6-v2 --json\n'
        '  bigmodel embed --query "animals" "a cat sat" "stock prices fell"\n'
        "  bigmodel embed --file sentences.txt --json > vectors.json\n",
    )
    parser.add_argument("texts", nargs="*", help="texts to embed")
    parser.add_argument("-m", "--model", default="all-minilm-l6-v2", help="preset, folder or HF id")
    parser.add_argument("--file", help="read one text per line from this file ('-' = stdin)")
    parser.add_argument("--query", help="rank the texts by cosine similarity to this query")
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--json", action="store_true", help="print vectors (or the ranking) as JSON")
    add_device_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..tasks.embeddings import embed

    texts = texts_from_arguments(args.texts, args.file, skip_empty=False)
    if args.query is not None:
        vectors = embed([args.query, *texts], args.model, batch_size=args.batch_size)
        scores = (vectors[1:] @ vectors[0]).tolist()
        ranking = sorted(zip(scores, texts, strict=True), key=lambda pair: -pair[0])
        if args.json:
            print_json([{"text": t, "score": s} for s, t in ranking])
        else:
            for score, text in ranking:
                print(f"{score:7.4f}  {text}")
        return 0
    vectors = embed(texts, args.model, batch_size=args.batch_size, progress=len(texts) > 256)
    if args.json:
        print_json([{"text": t, "embedding": v} for t, v in zip(texts, vectors.tolist(), strict=True)])
    else:
        for text, vector in zip(texts, vectors.tolist(), strict=True):
            head = " ".join(f"{x:+.4f}" for x in vector[:6])
            print(f"[{head} ... ] ({len(vector)} dims)  {text}")
    return 0
