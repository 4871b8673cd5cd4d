"""`bigmodel fill-mask`: the most likely tokens for each [MASK] in a text."""

from __future__ import annotations

import argparse
from typing import Any

from ..devices import add_device_argument
from . import add_parser, positive_int, print_json


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "fill-mask",
        "predict the tokens behind each [MASK] with a BERT model",
        '  bigmodel fill-mask "The capital of France is [MASK]." --model bert-base-uncased\n'
        '  bigmodel fill-mask "a [MASK] sat on the [MASK]." --model tiny-bert-en --top-k 3 --json\n',
    )
    parser.add_argument("texts", nargs="+", metavar="TEXT", help="text with one or more [MASK] tokens")
    parser.add_argument("-m", "--model", default="tiny-bert-en",
                        help="preset, folder or HF id (default tiny-bert-en, shipped; --model "
                             "bert-base-uncased for Google BERT from the Hugging Face hub)")
    parser.add_argument("--tokenizer", help="tokenizer name or folder (default: the model's)")
    parser.add_argument("-k", "--top-k", type=positive_int, default=5, help="predictions per mask (default 5)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_device_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..tasks.mask_filling import fill_mask

    results = fill_mask(list(args.texts), args.model, args.tokenizer, top_k=args.top_k)
    if args.json:
        print_json(results if len(args.texts) > 1 else results[0])
        return 0
    for text, per_text in zip(args.texts, results, strict=True):
        masks = per_text if per_text and isinstance(per_text[0], list) else [per_text]
        print(text)
        for m, predictions in enumerate(masks):
            if len(masks) > 1:
                print(f"  mask {m + 1}:")
            for p in predictions:
                print(f"    {p['score']:.4f}  {p['token_str']:<15} {p['sequence']}")
    return 0
