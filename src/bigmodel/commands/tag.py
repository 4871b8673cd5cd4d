"""`bigmodel tag`: named entities (token classification) in a text."""

from __future__ import annotations

import argparse
from typing import Any

from ..devices import add_device_argument
from ..errors import BigModelError
from . import add_parser, print_json


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "tag",
        "find named entities in texts with a token classifier (a BertForTokenClassification model)",
        '  bigmodel tag "Abraham went from Egypt unto Bethel." --model runs/ner\n'
        '  bigmodel tag "Abraham went from Egypt unto Bethel." --model runs/ner --aggregation none --json\n',
    )
    parser.add_argument("texts", nargs="+", help="texts to tag")
    parser.add_argument("-m", "--model", required=True, help="token-classification model folder (from bigmodel train)")
    parser.add_argument("--aggregation", choices=("simple", "none"), default="simple",
                        help="simple: group B-/I- tokens into entities (default); none: one line per token")
    parser.add_argument("--json", action="store_true", help="print the entities as JSON")
    add_device_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..tasks.token_classification import tag

    if not args.texts:
        raise BigModelError("give at least one text")
    single = len(args.texts) == 1
    found = tag(args.texts[0] if single else list(args.texts), args.model, aggregation=args.aggregation)
    if args.json:
        print_json(found)
        return 0
    results = [found] if single else found
    name = "entity_group" if args.aggregation == "simple" else "entity"
    for text, entities in zip(args.texts, results, strict=True):
        if len(args.texts) > 1:
            print(text)
        for e in entities:
            print(f"{e[name]}\t{e['score']:.3f}\t[{e['start']}:{e['end']}]\t{e['word']}")
    return 0
