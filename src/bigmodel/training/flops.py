"""Model FLOPs utilization: the FLOPs a training step does over what the machine can do.

    MFU = (training FLOPs per token × tokens/s) / peak FLOP/s

Training FLOPs per token are the planner's (planning/formulas.py): the forward pass costs 2
FLOPs per weight a token meets in a matrix multiply (the Transformer layers and the output
layer, not the embedding lookups) plus the attention scores and their weighted sum (2·T·d each
per layer, half of that under a causal mask); the backward pass costs twice the forward, so
training is 3×. Padding is not counted (it is work, but not useful work).

The peak is the best matrix-multiply rate this process reaches, measured over several sizes:
on a CPU a small product that stays in cache runs several times faster than a 1024² one, and
a small model's products are small, so a peak measured at one large size made tiny models
report MFU above 100%. When a step still beats the measured peak (the measurement ran while
something else loaded the machine), the peak is raised to what the step achieved and the run
says so once; a declared ``train.peak_gflops`` is kept, with a note that it is too low.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import torch

PEAK_SIZES = (256, 512, 1024)


def measure_peak_gflops(dtype: torch.dtype, sizes: tuple[int, ...] = PEAK_SIZES, reps: int = 3,
                        device: torch.device | str = "cpu") -> float:
    """Best achieved GFLOP/s of square matmuls (2·n³ FLOPs each) on ``device``, at the current
    thread count on the CPU."""
    device = torch.device(device)
    # GPU kernels run asynchronously: time them up to their completion.
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    # A private generator: drawing from the global one would shift the random stream of a
    # resumed run (dropout, masking) and break exact resume.
    generator = torch.Generator().manual_seed(0)
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, generator=generator).to(device, dtype)
        b = torch.randn(n, n, generator=generator).to(device, dtype)
        a @ b  # warm-up: first-call allocation and kernel selection
        sync()
        for _ in range(reps):
            start = time.perf_counter()
            a @ b
            sync()
            seconds = time.perf_counter() - start
            if seconds > 0:
                best = max(best, 2 * n**3 / seconds / 1e9)
    return best


def training_flops_per_token(model: Any, seq_len: int) -> float | None:
    """3 × (2·N_mm + attention FLOPs at ``seq_len``) per token, or None for a model the
    planner does not know (then no MFU is reported)."""
    from ..errors import BigModelError
    from ..planning import model_shape
    from ..planning.formulas import forward_flops_per_token

    try:
        shape = model_shape(getattr(model, "module", model))
    except (BigModelError, AttributeError, KeyError, TypeError):
        return None
    if not shape.stacks:
        return None
    return 3.0 * forward_flops_per_token(shape, seq_len)


class PeakCheck:
    """Keeps MFU at or below 100% when the measured peak was too low, and says why once."""

    def __init__(self, peak_gflops: float, declared: bool) -> None:
        self.peak_gflops = peak_gflops
        self.declared = declared
        self.noted = False

    def mfu(self, flops_per_token: float, tokens_per_s: float, world_size: int = 1) -> float:
        achieved = flops_per_token * tokens_per_s / 1e9 / world_size  # GFLOP/s per process
        if achieved > self.peak_gflops and not self.declared:
            self._note(f"note: a training step reached {achieved:,.0f} GFLOP/s, above the "
                       f"{self.peak_gflops:,.0f} measured at start (the machine was busier "
                       f"then); MFU is now quoted against {achieved:,.0f}")
            self.peak_gflops = achieved
        elif achieved > self.peak_gflops:
            self._note(f"note: MFU above 100%: a step reached {achieved:,.0f} GFLOP/s, more than "
                       f"train.peak_gflops = {self.peak_gflops:,.0f}; raise it (or 0 = measure)")
        return achieved / self.peak_gflops

    def _note(self, text: str) -> None:
        if not self.noted:
            print(text, file=sys.stderr)
            self.noted = True


__all__ = ["PeakCheck", "measure_peak_gflops", "training_flops_per_token"]
