"""Which kernel computes an int8 weight-only linear fastest, measured on the machine it runs on.

The same mechanism as the float linears' (``nn/kernel_choice.py``): for one (out x in, bias,
activation dtype, row bucket) every candidate of ``nn/int8_kernels.py`` that applies is timed on
the int8 weight itself and copies of it (cold, from memory, as in decoding), in interleaved
rounds, each candidate's fastest call counting (``kernel_choice.interleaved_seconds``). The winner is kept in the same kernel cache file
(per CPU model, torch version and thread count) under an ``int8-linear`` entry, and the first
measurement in a process is announced the same way. A
candidate whose result differs from the dequantized reference x (q · s)ᵀ + b beyond float
tolerance (bf16's for a kernel that rounds x to bf16), or that raises, is out; one that beats
today's kernel (``int8_kernels.default_kernel``) by less than ``kernel_choice.MARGIN`` loses to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from . import int8_kernels, kernel_cache, kernel_choice


def entry_name(out_features: int, in_features: int, has_bias: bool, dtype: torch.dtype, bucket: str) -> str:
    operation = "int8-linear+bias" if has_bias else "int8-linear"
    return f"{operation} {out_features}x{in_features} {str(dtype).removeprefix('torch.')} rows {bucket}"


def _agreeing_kernels(q: Tensor, scale: Tensor, bias: Tensor | None, dtype: torch.dtype,
                      x: Tensor) -> dict[str, list[int8_kernels.Kernel]]:
    """name -> the candidate bound to q and to each cold copy of it, for every applicable
    candidate whose result equals the dequantized reference within float tolerance."""
    reference = F.linear(x.float(), q.float() * scale.float()[:, None], None if bias is None else bias.float())
    size = float(reference.abs().max()) or 1.0
    copies = kernel_choice._cold_copies(q)
    found: dict[str, list[int8_kernels.Kernel]] = {}
    for candidate in int8_kernels.candidates_for(q.shape[1], dtype, x.shape[0]):
        try:
            kernel = candidate.build(q, scale, bias, dtype)
            y = kernel(x)
            if y.shape != reference.shape or y.dtype != dtype:
                continue
            precision = torch.bfloat16 if candidate.bf16_activations else dtype
            if float((y.float() - reference).abs().max()) > kernel_choice._tolerance(precision) * size:
                continue
            found[candidate.name] = [kernel, *(candidate.build(copy, scale, bias, dtype) for copy in copies[1:])]
        except (RuntimeError, TypeError, ValueError, AssertionError, OSError):
            continue  # not built for this CPU, dtype or shape
    return found


def measure(q: Tensor, scale: Tensor, bias: Tensor | None, dtype: torch.dtype, rows: int) -> dict[str, float]:
    """Seconds per call (fastest of the rounds) of every applicable candidate that agrees with the reference."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(rows, q.shape[1], generator=generator).to(dtype)
    with torch.inference_mode():
        kernels = _agreeing_kernels(q, scale, bias, dtype, x)
        try:
            return kernel_choice.interleaved_seconds(kernels, x)
        except (RuntimeError, TypeError, ValueError, OSError):
            return {}


def _record(table: kernel_cache.KernelTable, name: str, q: Tensor, scale: Tensor, bias: Tensor | None,
            dtype: torch.dtype, rows: int, save: bool = True) -> str:
    offered = [c.name for c in int8_kernels.candidates_for(q.shape[1], dtype, rows)]
    return kernel_choice.record(table, name, rows, lambda: measure(q, scale, bias, dtype, rows),
                                int8_kernels.default_kernel(q.shape[1], dtype), offered, save)


def choose(q: Tensor, scale: Tensor, bias: Tensor | None, dtype: torch.dtype, rows: int) -> str:
    """The name of the fastest int8 kernel for this weight at this many rows of x in ``dtype``
    (measured if the cache has no entry); today's kernel when BIGMODEL_KERNEL_CACHE=off."""
    if kernel_cache.mode() == "off":
        return int8_kernels.default_kernel(q.shape[1], dtype)
    label, representative = kernel_choice.row_bucket(rows)
    name = entry_name(q.shape[0], q.shape[1], bias is not None, dtype, label)
    table = kernel_cache.current_table()
    offered = [c.name for c in int8_kernels.candidates_for(q.shape[1], dtype, representative)]
    return kernel_choice.cached_choice(table, name, offered,
                                       lambda: _record(table, name, q, scale, bias, dtype, representative))


def tune(shapes: Iterable[tuple[int, int, bool]], dtype: torch.dtype,
         rows: Iterable[int] = (1, 8)) -> list[dict[str, Any]]:
    """Measure every (out, in, has_bias) int8 shape with x in ``dtype`` at every bucket of
    ``rows`` afresh, store the winners and return one row per choice (shape, rows, winner, the
    speedup over today's kernel, the microseconds of each candidate)."""
    table = kernel_cache.current_table()
    results = []
    generator = torch.Generator().manual_seed(0)
    for out_features, in_features, has_bias in shapes:
        default = int8_kernels.default_kernel(in_features, dtype)
        q = torch.randint(-127, 128, (out_features, in_features), generator=generator, dtype=torch.int8)
        scale = torch.rand(out_features, generator=generator) / 127
        bias = torch.randn(out_features, generator=generator) if has_bias else None
        for count in rows:
            label, representative = kernel_choice.row_bucket(count)
            name = entry_name(out_features, in_features, has_bias, dtype, label)
            with table.lock:
                winner = _record(table, name, q, scale, bias, dtype, representative, save=False)
            micro = table.entries[name]["microseconds"]
            base = micro.get(default)
            results.append({
                "shape": f"{out_features}x{in_features}", "bias": has_bias,
                "dtype": f"int8/{str(dtype).removeprefix('torch.')}", "rows": label, "winner": winner,
                "speedup": round(base / micro[winner], 2) if base and micro.get(winner) else 1.0,
                "reference": default,
                "microseconds": micro,
            })
    table.save()
    return results
