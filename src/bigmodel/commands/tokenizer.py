"""`bigmodel tokenizer train FILES --kind bpe|wordpiece --vocab-size N --out DIR`."""

from __future__ import annotations

import argparse
from typing import Any

from . import add_parser, output_dir, positive_int, print_json


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "tokenizer",
        "tokenizer tools: train a byte-level BPE (GPT) or WordPiece (BERT) tokenizer",
        "  bigmodel tokenizer train data/bible.txt --kind bpe --vocab-size 8000 --out runs/tok-en\n"
        "  bigmodel tokenizer train data/zh.txt --kind wordpiece --vocab-size 8000 --out runs/tok-zh\n",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    train = add_parser(
        actions,
        "train",
        "train a tokenizer on text files and save it in the Hugging Face layout",
        "  bigmodel tokenizer train data/bible.txt --kind bpe --vocab-size 8000 --out runs/tok-en\n",
    )
    train.add_argument("files", nargs="+", help="UTF-8 text files")
    train.add_argument("--kind", choices=("bpe", "wordpiece"), required=True,
                       help="bpe: byte-level BPE (GPT-2); wordpiece: BERT's WordPiece")
    train.add_argument("--vocab-size", type=positive_int, required=True, help="largest vocabulary size")
    train.add_argument("-o", "--out", required=True, type=output_dir, help="folder for tokenizer.json and friends")
    train.add_argument("--min-frequency", type=int, default=2, help="rarest pair/piece kept (default 2)")
    train.add_argument("--cased", action="store_true", help="WordPiece: keep case (default lowercases)")
    train.add_argument("--json", action="store_true", help="print a summary as JSON")
    train.set_defaults(func=run_train)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def run_train(args: argparse.Namespace) -> int:
    from ..tokenization import train_tokenizer

    tok = train_tokenizer(args.files, kind=args.kind, vocab_size=args.vocab_size, out_dir=args.out,
                          min_frequency=args.min_frequency, lowercase=not args.cased, show_progress=not args.json)
    summary = {"out": str(args.out), "kind": args.kind, "vocab_size": len(tok),
               "special_tokens": tok.all_special_tokens}
    if args.json:
        print_json(summary)
    else:
        print(f"trained a {args.kind} tokenizer with {len(tok):,} entries; saved to {args.out}")
    return 0
