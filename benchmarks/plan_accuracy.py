"""How close is `bigmodel plan` to what really happens on this machine?

Runs each configuration in a fresh Python process and compares with the planner:

- peak memory of inference (one forward pass, KV cache allocated for decoders) and of one
  training step (forward, backward, AdamW step; measured on the second step, once the
  optimizer states exist), as the growth of the process's peak resident set (VmHWM, reset
  through /proc/self/clear_refs) over its size before the model was built;
- greedy decoding speed (tokens/s, KV cache, batch B, 16-token prompt) against the
  calibrated estimate.

    PYTHONPATH=src .venv/bin/python benchmarks/plan_accuracy.py [--quick] [--json]

Prints a markdown table (docs/plan.md holds one run). Weights are random: memory and speed
do not depend on their values.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# name, model (preset or GPT/BERT config overrides), mode, batch, seq_len, dtype
MEMORY_CASES: list[dict[str, Any]] = [
    {"label": "gpt2 inference, 1×512, fp32", "preset": "gpt2", "mode": "inference", "batch": 1, "seq": 512},
    {"label": "bert-base-uncased inference, 8×128, fp32", "preset": "bert-base-uncased", "mode": "inference",
     "batch": 8, "seq": 128},
    {"label": "GPT 6×384 (ctx 256) training, 8×256, AdamW fp32", "gpt": dict(n_layers=6, d_model=384, n_heads=6,
     max_seq_len=256), "mode": "training", "batch": 8, "seq": 256},
    {"label": "BERT 6×384 classifier training, 32×128, AdamW fp32",
     "bert_cls": dict(n_layers=6, d_model=384, n_heads=12, d_ff=1536), "mode": "training", "batch": 32,
     "seq": 128},
    {"label": "gpt2 training, 2×256, AdamW fp32", "preset": "gpt2", "mode": "training", "batch": 2, "seq": 256},
]

DECODE_CASES: list[dict[str, Any]] = [
    {"label": "gpt2 decode, batch 1, fp32", "preset": "gpt2", "batch": 1, "dtype": "fp32"},
    {"label": "gpt2 decode, batch 1, bf16", "preset": "gpt2", "batch": 1, "dtype": "bf16"},
    {"label": "gpt2 decode, batch 8, fp32", "preset": "gpt2", "batch": 8, "dtype": "fp32"},
]

PROMPT, NEW_TOKENS = 16, 32


# --------------------------------------------------------------------------- child side


def _status(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+)", text).group(1)) * 1024


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _build(case: dict[str, Any]) -> Any:
    from bigmodel.hub import create
    from bigmodel.models.bert import BertConfig, BertForSequenceClassification
    from bigmodel.models.gpt import GPT, GPTConfig

    if "preset" in case:
        return create(case["preset"])
    if "gpt" in case:
        return GPT(GPTConfig(**case["gpt"]))
    return BertForSequenceClassification(BertConfig(**case["bert_cls"]))


def _config(case: dict[str, Any]) -> Any:
    from bigmodel.models.bert import BertConfig
    from bigmodel.models.gpt import GPTConfig

    if "preset" in case:
        return case["preset"]
    if "gpt" in case:
        return GPTConfig(**case["gpt"])
    return BertConfig(**case["bert_cls"])


def child_memory(case: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(2)
    batch, seq = case["batch"], case["seq"]
    ids = torch.randint(0, 1000, (batch, seq))
    labels = torch.randint(0, 2, (batch,))
    _reset_peak()
    base = _status("VmRSS")
    model = _build(case)
    if case["mode"] == "inference":
        model.eval()
        with torch.inference_mode():
            if model.family == "gpt":
                cache = model.new_kv_cache(batch, seq)
                model(ids, kv_cache=cache)
            else:
                model(ids)
        return {"measured": _status("VmHWM") - base}
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        if model.family == "gpt":
            loss = model(ids, labels=ids).loss
        else:
            loss = model(ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    _reset_peak()
    before = _status("VmRSS")
    step()
    # The peak of the second step, counted from before the model existed.
    return {"measured": _status("VmHWM") - before + (before - base)}


def child_decode(case: dict[str, Any]) -> dict[str, Any]:
    """Decode speed and, around it, the calibration: both under the same load."""
    import torch

    planner = importlib.import_module("bigmodel.planning")
    from bigmodel.hub import create, resolve_dtype

    torch.manual_seed(0)
    torch.set_num_threads(case.get("threads", 2))
    model = create(case["preset"]).eval().to(resolve_dtype(case["dtype"]))
    batch = case["batch"]
    ids = torch.randint(0, 1000, (batch, PROMPT))

    def run(new_tokens: int) -> float:
        cache = model.new_kv_cache(batch, PROMPT + new_tokens + 1)
        with torch.inference_mode():
            logits = model(ids, kv_cache=cache, logits_to_keep=1).logits
            start = time.perf_counter()
            for _ in range(new_tokens):
                nxt = logits[:, -1].argmax(-1, keepdim=True)
                logits = model(nxt, kv_cache=cache, logits_to_keep=1).logits
            return batch * new_tokens / (time.perf_counter() - start)

    run(4)
    estimates = []
    speeds = []
    for _ in range(2):
        cal = planner.calibrate(save=False)
        p = planner.plan(case["preset"], batch_size=batch, seq_len=PROMPT + NEW_TOKENS, dtype=case["dtype"],
                         calibration=cal)
        estimates.append(p.time["decode_tokens_per_s"])
        speeds.append(run(NEW_TOKENS))
    return {"measured": sum(speeds) / len(speeds), "estimate": sum(estimates) / len(estimates)}


# --------------------------------------------------------------------------- parent side


def _in_child(kind: str, case: dict[str, Any], env_extra: dict[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), **(env_extra or {}))
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import plan_accuracy as b; "
            f"print(json.dumps(b.child_{kind}(json.loads(sys.argv[1]))))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(case)], capture_output=True, text=True,
                         env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{case['label']}: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="first memory case and first decode case only")
    parser.add_argument("--only", choices=["memory", "decode"], help="run one half of the table")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads for decoding and its calibration (1 on a crowded machine)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    planner = importlib.import_module("bigmodel.planning")

    memory_cases = [] if args.only == "decode" else MEMORY_CASES[:1] if args.quick else MEMORY_CASES
    decode_cases = [] if args.only == "memory" else DECODE_CASES[:1] if args.quick else DECODE_CASES
    rows = []
    if not args.json:
        print("| configuration | quantity | estimate | measured | measured / estimate |")
        print("|---|---|---|---|---|", flush=True)
    for case in memory_cases:
        p = planner.plan(_config(case), batch_size=case["batch"], seq_len=case["seq"],
                         training=case["mode"] == "training")
        estimate = p.peak_memory()
        # Default glibc malloc (what a user sees), and with large blocks always returned to
        # the system (what the tensors themselves take).
        for how, extra in (("peak RSS", {}), ("peak RSS, mmap ≥64 KiB", {"MALLOC_MMAP_THRESHOLD_": "65536"})):
            measured = _in_child("memory", case, extra)["measured"]
            _row(rows, case["label"], how, estimate, measured, args.json)
    for case in decode_cases:
        case = case | {"threads": args.threads}
        result = _in_child("decode", case)
        _row(rows, case["label"], "decode tok/s", result["estimate"], result["measured"], args.json)
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


def _row(rows: list[dict[str, Any]], what: str, kind: str, estimate: float, measured: float,
         quiet: bool) -> None:
    rows.append({"what": what, "kind": kind, "estimate": estimate, "measured": measured,
                 "ratio": measured / estimate})
    if quiet:
        return
    if kind.startswith("peak"):
        est, got = f"{estimate / 1e6:,.0f} MB", f"{measured / 1e6:,.0f} MB"
    else:
        est, got = f"{estimate:.1f}", f"{measured:.1f}"
    print(f"| {what} | {kind} | {est} | {got} | {measured / estimate:.2f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
