"""`bigmodel tune`: measure the fastest CPU kernel for each linear shape of a model, once."""

from __future__ import annotations

import argparse
from typing import Any

from . import add_parser, positive_int, print_json


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers, "tune",
        "measure the fastest CPU kernel for each linear shape of a model and keep it in the kernel cache",
        "  bigmodel tune --model gpt2\n  bigmodel tune --model gpt2 --dtype bf16 --json\n"
        "  bigmodel tune --model tiny-gpt-en --rows 1,8 --threads 2\n"
        "  bigmodel tune --model gpt2 --quantize int8\n",
    )
    parser.add_argument("-m", "--model", default="gpt2", help="preset, folder or HF id")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="weights' dtype")
    parser.add_argument("--rows", type=_rows, help="comma-separated row counts (default: one per bucket: "
                        "1, 2-8, 9-32, 33-64, 65-256, >256; with --quantize int8: 1 and 2-8)")
    parser.add_argument("--quantize", choices=["int8"], help="tune the int8 weight-only kernels "
                        "(what --quantize int8 runs) instead of the float ones")
    parser.add_argument("--threads", type=positive_int, help="CPU threads for torch (part of the cache key)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def _rows(text: str) -> list[int]:
    try:
        rows = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not rows or any(r < 1 for r in rows):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return rows


def run(args: argparse.Namespace) -> int:
    import torch

    from ..tasks.kernel_tuning import tune_kernels

    if args.threads:
        torch.set_num_threads(args.threads)
    report = tune_kernels(args.model, args.dtype, args.rows, quantize=args.quantize)
    if args.json:
        print_json(report)
        return 0
    machine = report["machine"]
    print(f"{machine['cpu']} ({', '.join(machine['flags']) or 'no relevant flags'}), "
          f"{machine['threads']} threads, torch {machine['torch']}; cache: {report['cache'] or 'in memory only'}")
    for c in report["choices"]:
        shape = c["shape"] + ("+bias" if c["bias"] else "")
        print(f"{shape:<16} {c['dtype']:<9} rows {c['rows']:<6} {c['winner']:<11} {c['speedup']:5.2f}x vs "
              f"{c.get('reference', 'F.linear')}")
    return 0
