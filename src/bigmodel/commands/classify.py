"""`bigmodel classify`: label texts with a fine-tuned classifier."""

from __future__ import annotations

import argparse
from typing import Any

from ..devices import add_device_argument
from . import add_parser, positive_int, print_json
from .text_arguments import texts_from_arguments


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "classify",
        "classify texts with a fine-tuned text classifier (label + probabilities)",
        '  bigmodel classify "这个手机太好用了" "质量太差，退货" --model runs/sentiment-zh/full\n'
        "  bigmodel classify --file reviews.txt --model runs/sentiment-zh/full --json > labels.json\n"
        '  bigmodel classify "great phone" --model runs/sentiment-zh/lora --top-k 1\n',
    )
    parser.add_argument("texts", nargs="*", help="texts to classify")
    parser.add_argument("-m", "--model", required=True, help="classifier folder (from bigmodel train), or an adapter folder")
    parser.add_argument("--file", help="read one text per line from this file ('-' = stdin); empty lines are skipped")
    parser.add_argument("-k", "--top-k", type=positive_int, help="show only the k most likely labels")
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--max-length", type=positive_int, help="truncate texts to this many tokens")
    parser.add_argument("--long-texts", choices=("truncate", "windows"),
                        help="a text longer than the model's context: truncate it, or read it as windows "
                             "(mean logits); default: as the model was fine-tuned")
    parser.add_argument("--json", action="store_true", help="print a JSON list of {text, label, score, probabilities}")
    add_device_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..tasks.text_classification import classify

    texts = texts_from_arguments(args.texts, args.file, skip_empty=True)
    results = classify(texts, args.model, top_k=args.top_k, batch_size=args.batch_size,
                       max_length=args.max_length, long_texts=args.long_texts, progress=len(texts) > 64)
    if args.json:
        print_json([{"text": t} | r for t, r in zip(texts, results, strict=True)])
        return 0
    for text, result in zip(texts, results, strict=True):
        others = "  ".join(f"{name} {p:.3f}" for name, p in result["probabilities"].items())
        print(f"{result['label']}\t{result['score']:.3f}\t[{others}]\t{text}")
    return 0
