"""`bigmodel prepare FILES --tokenizer T --out DIR`: text -> memory-mapped token files."""

from __future__ import annotations

import argparse
from typing import Any

from . import add_parser, output_dir, print_json


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {value}")
    return value


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "prepare",
        "tokenize text files into train/validation token files for `bigmodel train`",
        "  bigmodel prepare data/bible.txt --tokenizer runs/tok-en --out data/bible\n"
        "  bigmodel prepare reviews.txt --tokenizer runs/tok-zh --split-by line --out data/zh\n",
    )
    parser.add_argument("files", nargs="+", help="UTF-8 text files")
    parser.add_argument("--tokenizer", required=True, help="tokenizer folder or preset (gpt2, bert-base-uncased)")
    parser.add_argument("-o", "--out", required=True, type=output_dir, help="folder to write (meta.json, *.bin, tokenizer/)")
    parser.add_argument("--split-by", choices=("blank_line", "line"), default="blank_line",
                        help="document boundary: a blank line (lines are sentences) or every line")
    parser.add_argument("--validation-fraction", type=_fraction, default=0.05,
                        help="share of documents held out for validation (default 0.05)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation draw")
    parser.add_argument("--json", action="store_true", help="print meta.json")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.text import prepare_corpus

    meta = prepare_corpus(args.files, args.tokenizer, args.out, validation_fraction=args.validation_fraction,
                          split_by=args.split_by, seed=args.seed, show_progress=not args.json)
    if args.json:
        print_json(meta)
        return 0
    for split, counts in meta["splits"].items():
        print(f"{split}: {counts['tokens']:,} tokens, {counts['documents']:,} documents, "
              f"{counts['sentences']:,} sentences")
    print(f"wrote {args.out} ({meta['dtype']}, vocabulary {meta['vocab_size']:,})")
    return 0
