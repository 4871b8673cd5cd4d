"""`bigmodel models`: list the presets."""

from __future__ import annotations

import argparse
from typing import Any

from . import add_parser, print_json


def register(subparsers: Any) -> None:
    parser = add_parser(subparsers, "models", "list the model presets with their parameter counts",
                        "  bigmodel models\n  bigmodel models --json\n")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..tasks.catalog import list_models

    rows = list_models()
    if args.json:
        print_json(rows)
        return 0
    width = max(len(r["name"]) for r in rows)
    print(f"{'name':<{width}}  {'family':<11} {'parameters':>13}  weights")
    for r in rows:
        print(f"{r['name']:<{width}}  {r['family']:<11} {r['parameters']:>13,}  {r['weights']}")
    return 0
