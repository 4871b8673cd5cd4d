"""`bigmodel plan`: parameters, FLOPs, memory and time of a model, from its config alone."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import BigModelError
from . import add_parser, positive_int, print_json

EXAMPLES = """\
  bigmodel plan gpt2
  bigmodel plan gpt2-medium --batch-size 8 --seq-len 1024 --training --dtype bf16
  bigmodel plan bert-base-uncased --training --lora-rank 8 --checkpointing
  bigmodel plan gpt2 --compare gpt2-medium bert-base-uncased --seq-len 512
  bigmodel plan --budget-memory 8GB --training --seq-len 512
  bigmodel plan --calibrate          (times this machine once; enables time estimates)
  bigmodel plan ./my-model-folder --json
"""


def register(subparsers: Any) -> None:
    parser = add_parser(subparsers, "plan",
                        "estimate parameters, FLOPs, memory and time of a model (config only, no weights)",
                        EXAMPLES)
    parser.add_argument("model", nargs="?", help="preset name or local Hugging Face model folder")
    parser.add_argument("--batch-size", type=positive_int, default=1)
    parser.add_argument("--seq-len", type=positive_int, default=None,
                        help="tokens per sequence (default: the model's context)")
    parser.add_argument("--dtype", default="fp32", help="fp32, bf16 or fp16 (default fp32)")
    parser.add_argument("--training", action="store_true", help="size a training step (default: inference)")
    parser.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"])
    parser.add_argument("--checkpointing", action="store_true", help="activation checkpointing")
    parser.add_argument("--lora-rank", type=positive_int, default=None,
                        help="train LoRA adapters of this rank instead of all weights")
    parser.add_argument("--compare", nargs="+", metavar="MODEL", default=[],
                        help="more models to show side by side")
    parser.add_argument("--budget-memory", metavar="SIZE",
                        help="list which presets fit in SIZE (8GB, 512MB, 16GiB)")
    parser.add_argument("--calibrate", action="store_true",
                        help="measure this machine's matmul speed and memory bandwidth and cache them")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..planning import calibrate, calibration_path, format_plans, plan

    if args.calibrate:
        cal = calibrate(save=True, progress=not args.json)
        if args.json:
            print_json(cal.to_dict())
        else:
            print(f"saved {calibration_path()}")
            for dtype, rate in cal.matmul_flops.items():
                print(f"  matmul {dtype}: {rate / 1e9:.0f} GFLOP/s   weight streaming: "
                      f"{cal.gemv_bandwidth[dtype] / 1e9:.1f} GB/s")
            print(f"  decode overhead: {cal.step_overhead_s * 1e3:.2f} ms per step + "
                  f"{cal.layer_overhead_s * 1e3:.3f} ms per layer")
        if args.model is None and args.budget_memory is None:
            return 0
    settings = {"batch_size": args.batch_size, "seq_len": args.seq_len, "dtype": args.dtype,
                "training": args.training, "optimizer": args.optimizer,
                "checkpointing": args.checkpointing, "lora_rank": args.lora_rank}
    if args.budget_memory is not None:
        return _budget(args, settings)
    if args.model is None:
        raise BigModelError("plan needs a MODEL (a preset or a folder), --budget-memory or --calibrate")
    plans = [plan(name, **settings) for name in [args.model, *args.compare]]
    if args.json:
        print_json([p.to_dict() for p in plans] if args.compare else plans[0].to_dict())
    else:
        print(format_plans(plans))
    return 0


def _budget(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    from ..planning import fits_in_memory, human_bytes, parse_memory

    limit = parse_memory(args.budget_memory)
    rows = fits_in_memory(limit, **settings)
    if args.json:
        print_json({"budget_bytes": limit, "models": rows})
        return 0
    mode = "training" if args.training else "inference"
    print(f"{mode} within {human_bytes(limit)} (batch {args.batch_size}, {args.dtype}):")
    width = max(len(r["model"]) for r in rows)
    for r in rows:
        if r["needs"] is None:
            print(f"  {r['model']:<{width}}  skipped: {r['why']}")
        else:
            print(f"  {r['model']:<{width}}  {human_bytes(r['needs']):>10}  {'fits' if r['fits'] else 'too big'}")
    return 0
