"""GB/s of the batch-1 linear kernels on GPT-2's shapes: bf16 F.linear, bf16 torch.mv, bigmodel's
native bf16 kernel (``nn/native_matvec.py``) and fp32 F.linear, read from memory.

    PYTHONPATH=src .venv/bin/python benchmarks/bf16_matvec.py [--threads 1] [--reps 41]

Each kernel cycles through copies of its weight adding up to 512 MiB, so every call reads one
from memory (as decoding does, one layer after another), not from the L3 cache (300 MiB on the
project's Intel(R) Xeon(R) Processor VM: a 64 MiB cycle measured twice the memory's bandwidth); the kernels are
interleaved call by call and the median of ``--reps`` calls is reported, so load from other
processes hits all alike. GB/s counts the weight bytes (out x in x element size) per call; the
first line gives the read bandwidth of summing a 512 MiB fp32 tensor for comparison.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from generate import read_bandwidth  # noqa: E402  (benchmarks/generate.py)

from bigmodel.nn import native_matvec  # noqa: E402
from bigmodel.nn.kernel_cache import cpu_description  # noqa: E402

SHAPES = ((2304, 768), (768, 768), (3072, 768), (768, 3072), (50257, 768))  # (out, in)
COLD_BYTES = 512 * 2**20


def _kernels(out: int, width: int) -> dict[str, tuple[list[Callable[[], object]], int]]:
    """name -> (one call per weight copy, weight bytes)."""
    base = torch.randn(out, width)
    copies = max(1, -(-COLD_BYTES // (out * width * 2)))
    bf16 = [base.bfloat16() for _ in range(copies)]
    fp32 = [base.clone() for _ in range(max(1, copies // 2))]
    x16, x32 = torch.randn(1, width).bfloat16(), torch.randn(1, width)
    kernels = {
        "F.linear bf16": ([lambda w=w: F.linear(x16, w) for w in bf16], out * width * 2),
        "torch.mv bf16": ([lambda w=w: torch.mv(w, x16[0]) for w in bf16], out * width * 2),
        "F.linear fp32": ([lambda w=w: F.linear(x32, w) for w in fp32], out * width * 4),
    }
    if native_matvec.available(torch.bfloat16):
        native = [native_matvec.bind_linear(w, None) for w in bf16]
        kernels["native bf16"] = ([lambda k=k: k(x16) for k in native], out * width * 2)
    return kernels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=41)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{cpu_description()[0]}, torch {torch.__version__}, {args.threads} thread(s), "
          f"native bf16 kernel {'available' if native_matvec.available(torch.bfloat16) else 'unavailable'}")
    with torch.inference_mode():
        print(f"read bandwidth (sum of 512 MiB fp32): {read_bandwidth(9):.1f} GB/s")
        for out, width in SHAPES:
            kernels = _kernels(out, width)
            times: dict[str, list[float]] = {name: [] for name in kernels}
            for calls, _ in kernels.values():
                for call in calls:
                    call()  # warm-up
            for rep in range(args.reps):
                for name, (calls, _) in kernels.items():
                    call = calls[rep % len(calls)]
                    start = time.perf_counter()
                    call()
                    times[name].append(time.perf_counter() - start)
            cells = [f"{name} {nbytes / statistics.median(times[name]) / 1e9:5.1f}"
                     for name, (_, nbytes) in kernels.items()]
            print(f"{out:>6} x {width:<5} GB/s: " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
