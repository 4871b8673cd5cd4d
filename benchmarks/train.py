"""Training throughput: bigmodel's GPT beside transformers' GPT2LMHeadModel, one loop, one run.

The workload is the one BASELINES.md measures: a 6-layer, 384-wide GPT (GPT-2 vocabulary),
context 256, batch 8, AdamW, fp32 and bf16 autocast. Both models run the identical loop
(forward with labels, backward, clipping, AdamW step) on the same random tokens; rounds
alternate between the models so a busy machine slows both alike, and the median of the
rounds is reported. MFU = (6N + 12·L·d·T) · tokens/s / peak, the peak being a square matmul
measured here in the same dtype.

    python benchmarks/train.py                  # fp32 and bf16, eager and compiled
    python benchmarks/train.py --dtype bf16 --rounds 5 --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bigmodel.models.gpt import GPT, GPTConfig  # noqa: E402
from bigmodel.nn.losses import keep_eager_under_compile  # noqa: E402
from bigmodel.training.optim import build_optimizer  # noqa: E402

LAYERS, WIDTH, HEADS, VOCAB, CONTEXT, BATCH = 6, 384, 6, 50257, 256, 8


def peak_gflops(dtype: torch.dtype, n: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def ours() -> torch.nn.Module:
    config = GPTConfig(vocab_size=VOCAB, max_seq_len=CONTEXT, d_model=WIDTH, n_layers=LAYERS, n_heads=HEADS,
                       dropout=0.0, attn_dropout=0.0)
    return GPT(config)


def theirs() -> torch.nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=VOCAB, n_positions=CONTEXT, n_embd=WIDTH, n_layer=LAYERS, n_head=HEADS,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    config._attn_implementation = "sdpa"
    return GPT2LMHeadModel(config)


class Runner:
    """One model, its optimizer and a step function (the loop every model shares)."""

    def __init__(self, name: str, model: torch.nn.Module, dtype: torch.dtype, compile: bool) -> None:
        self.name = name
        self.model = model.train()
        self.optimizer = build_optimizer(model, lr=1e-4)
        self.dtype = dtype
        if compile:
            keep_eager_under_compile()  # what the Trainer does with train.compile = true
        self.forward = torch.compile(model) if compile else model
        self.params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())

    def step(self, ids: torch.Tensor) -> float:
        autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if self.dtype == torch.bfloat16
                    else contextlib.nullcontext())
        with autocast:
            loss = self.forward(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss)

    def tokens_per_s(self, ids: torch.Tensor, steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            self.step(ids)
        return ids.numel() * steps / (time.perf_counter() - start)


def measure(dtype_name: str, rounds: int, steps: int, compile: bool) -> dict[str, Any]:
    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    torch.manual_seed(0)
    ids = torch.randint(0, VOCAB, (BATCH, CONTEXT))
    runners = [Runner("transformers GPT2LMHeadModel", theirs(), dtype, False),
               Runner("bigmodel GPT", ours(), dtype, False)]
    if compile:
        runners.append(Runner("bigmodel GPT + torch.compile", ours(), dtype, True))
    for r in runners:  # warm-up (and compilation) outside the timing
        r.step(ids)
        r.step(ids)
    speeds: dict[str, list[float]] = {r.name: [] for r in runners}
    for _ in range(rounds):
        for r in runners:
            speeds[r.name].append(r.tokens_per_s(ids, steps))
    peak = peak_gflops(dtype)
    flops_per_token = 6 * runners[0].params + 12 * LAYERS * WIDTH * CONTEXT
    rows = []
    base = statistics.median(speeds[runners[0].name])
    for r in runners:
        tps = statistics.median(speeds[r.name])
        rows.append({"model": r.name, "dtype": dtype_name, "tokens_per_s": round(tps, 1),
                     "mfu": round(flops_per_token * tps / (peak * 1e9), 3), "vs_transformers": round(tps / base, 3),
                     "rounds": [round(x, 1) for x in speeds[r.name]]})
    return {"dtype": dtype_name, "peak_gflops": round(peak, 1), "params": runners[0].params, "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=("fp32", "bf16", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per round")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = [measure(d, args.rounds, args.steps, not args.no_compile)
               for d in (("fp32", "bf16") if args.dtype == "both" else (args.dtype,))]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"GPT {LAYERS}x{WIDTH}, context {CONTEXT}, batch {BATCH}, AdamW; torch {torch.__version__}, "
          f"{args.threads} threads; median of {args.rounds} rounds x {args.steps} steps")
    for result in results:
        print(f"\n{result['dtype']}: peak matmul {result['peak_gflops']} GFLOP/s, {result['params'] / 1e6:.1f}M params")
        for row in result["rows"]:
            print(f"  {row['model']:<32} {row['tokens_per_s']:>8.1f} tok/s   MFU {row['mfu']:.0%}   "
                  f"x{row['vs_transformers']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
