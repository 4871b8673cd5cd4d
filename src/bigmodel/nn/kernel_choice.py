"""Which kernel computes y = x Wᵀ + b fastest, measured on the machine it runs on.

For one (operation, out x in, dtype, row bucket) every candidate of ``nn/linear_kernels.py``
that applies is timed on the weight itself (and copies of it, see ``COLD_BYTES``) and a random
x of the bucket's representative row count: one warm-up call per copy, then up to ``ROUNDS``
interleaved rounds (each candidate once per round, in turn; at least ``MIN_ROUNDS``, fewer once
``BUDGET_S`` is spent), and each candidate's fastest call counts. Interleaving makes load from
other processes fall on every candidate alike, and the minimum keeps what a candidate does when
it has the cores (load only ever adds time): a choice made on a busy machine is then the choice
a quiet machine makes, where timing one candidate after another let a burst of load during one
candidate's calls hand the layer to a slower kernel. A candidate
whose result differs from ``F.linear`` beyond float tolerance, or that raises, is out; one
that beats ``F.linear`` by less than ``MARGIN`` loses to it. The winner is kept in the kernel
cache (``nn/kernel_cache.py``) so the measurement happens once per machine, torch version and
thread count; ``bigmodel tune`` makes it ahead of time for a model's shapes. An entry is
measured again when its winner is not offered now (unknown, or unavailable on this machine) or
a kernel offered now was not among the candidates it measured (one added since).

The first measurement in a process is announced on one stderr line when notices are on: the
CLI turns them on (BIGMODEL_KERNEL_NOTICE=1); library use stays quiet unless that variable is
set or :func:`announce` is called.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from . import kernel_cache, linear_kernels

NOTICE_ENV = "BIGMODEL_KERNEL_NOTICE"
# (largest row count, label, representative rows timed for the bucket)
ROW_BUCKETS: tuple[tuple[float, str, int], ...] = (
    (1, "1", 1), (8, "2-8", 8), (32, "9-32", 32), (64, "33-64", 64), (256, "65-256", 128),
    (float("inf"), ">256", 512),  # a long prompt: a weight packed for few rows can lose there
)
ROUNDS = 9
MIN_ROUNDS = 3
BUDGET_S = 0.1  # rounds stop after this much time in all (after at least MIN_ROUNDS of them)
# Decoding reads each weight once per token, after every other layer's: from memory, not from
# a cache. A weight smaller than this is timed cycling through copies of it that add up to
# this many bytes (more than a core's L2), so that each timed call reads one not touched lately.
COLD_BYTES = 32 * 2**20
MAX_COPIES = 16
MARGIN = 0.03  # a kernel must beat F.linear by 3% to be chosen

timer: Callable[[], float] = time.perf_counter  # tests replace it
# What measuring has cost this process (benchmarks report it apart from decoding).
measured = {"entries": 0, "seconds": 0.0}
_announced = False
_notices: bool | None = None


def announce(on: bool = True) -> None:
    """Say on stderr (once per process) when kernels are being measured."""
    global _notices
    _notices = on


def _notices_on() -> bool:
    return _notices if _notices is not None else os.environ.get(NOTICE_ENV, "") not in ("", "0")


def row_bucket(rows: int) -> tuple[str, int]:
    """(label, representative row count) of the bucket ``rows`` falls in."""
    for limit, label, representative in ROW_BUCKETS:
        if rows <= limit:
            return label, representative
    raise AssertionError("unreachable: the last bucket has no limit")


def row_slot(rows: int) -> int | str:
    """A key under which a layer keeps its kernel for ``rows``: the row count itself up to 64
    (cheap to compute on every decoding step), the row bucket's label above (so that a 512-row
    prompt and a 100-row batch do not share the kernel of whichever came first)."""
    return rows if rows <= 64 else row_bucket(rows)[0]


def entry_name(out_features: int, in_features: int, has_bias: bool, dtype: torch.dtype, bucket: str) -> str:
    operation = "linear+bias" if has_bias else "linear"
    return f"{operation} {out_features}x{in_features} {str(dtype).removeprefix('torch.')} rows {bucket}"


def _tolerance(dtype: torch.dtype) -> float:
    # relative to the largest |y|: the sums run in different orders (and, in bf16, round
    # partial sums at different points).
    return 1e-4 if dtype == torch.float32 else 3e-2


def interleaved_seconds(kernels: dict[str, list[Callable[[Tensor], Tensor]]], x: Tensor) -> dict[str, float]:
    """name -> the fastest of its timed calls, timing every candidate once per round in turn;
    each candidate cycles through its kernels (one per cold copy of the weight)."""
    working = {}
    for name, copies in kernels.items():
        try:
            for kernel in copies:
                kernel(x)  # warm-up: first-call allocations, packing, library dispatch
        except (RuntimeError, TypeError, ValueError, AssertionError, OSError):
            continue  # a candidate that fails on a copy of the weight is out, the others stay
        working[name] = copies
    times: dict[str, list[float]] = {name: [] for name in working}
    spent, rounds, calls = 0.0, 0, 0
    while working and rounds < ROUNDS and (rounds < MIN_ROUNDS or spent < BUDGET_S):
        for name, copies in working.items():
            # the next copy for every call, not per candidate: the previous call's copy is in
            # the cache, and the candidate timed after it would read it from there
            kernel = copies[calls % len(copies)]
            calls += 1
            start = timer()
            kernel(x)
            elapsed = timer() - start
            times[name].append(elapsed)
            spent += elapsed
        rounds += 1
    return {name: min(values) for name, values in times.items()}


def _cold_copies(weight: Tensor) -> list[Tensor]:
    """The weight and enough copies of it that cycling through them reads COLD_BYTES."""
    nbytes = weight.numel() * weight.element_size()
    count = min(MAX_COPIES, max(1, -(-COLD_BYTES // max(nbytes, 1))))
    detached = weight.detach()
    return [weight] + [detached.clone() for _ in range(count - 1)]


def measure(weight: Tensor, bias: Tensor | None, rows: int) -> dict[str, float]:
    """Seconds per call (fastest of the rounds) of every applicable candidate that agrees with F.linear."""
    dtype = weight.dtype
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(rows, weight.shape[1], generator=generator).to(dtype)
    had_packed = weight in linear_kernels._PACKED
    copies = _cold_copies(weight)
    kernels: dict[str, list[linear_kernels.Kernel]] = {}
    with torch.inference_mode():
        reference = linear_kernels.build_kernel(linear_kernels.REFERENCE, weight, bias)(x).float()
        scale = (float(reference.abs().max()) if reference.numel() else 0.0) or 1.0  # out = 0: empty y
        for candidate in linear_kernels.candidates_for(rows, dtype, bias is not None):
            try:
                kernel = candidate.build(weight, bias)
                y = kernel(x)
                if y.shape != reference.shape or y.dtype != dtype:
                    continue
                if float((y.float() - reference).abs().max()) > _tolerance(dtype) * scale:
                    continue
                kernels[candidate.name] = [kernel, *(candidate.build(copy, bias) for copy in copies[1:])]
            except (RuntimeError, TypeError, ValueError, AssertionError):
                continue  # not built for this CPU, dtype or shape
        try:
            seconds = interleaved_seconds(kernels, x)
        except (RuntimeError, TypeError, ValueError, AssertionError):
            seconds = {}
    if not had_packed and fastest(seconds) != "packed":
        linear_kernels._PACKED.pop(weight, None)  # the measured copy is not worth its memory
    return seconds


def fastest(seconds: dict[str, float], reference: str = linear_kernels.REFERENCE) -> str:
    """The fastest candidate, or ``reference`` (F.linear for the linears) unless it is beaten by
    more than MARGIN (timing noise alone should not move a layer off the reference)."""
    if not seconds:
        return reference
    best = min(seconds, key=seconds.__getitem__)
    if reference in seconds and seconds[best] > (1 - MARGIN) * seconds[reference]:
        return reference
    return best


def record(table: kernel_cache.KernelTable, name: str, rows: int, timings: Callable[[], dict[str, float]],
           reference: str, offered: list[str], save: bool = True) -> str:
    """Measure (``timings()``: candidate -> seconds), keep the winner in entry ``name`` of the
    cache with the candidates ``offered`` and the microseconds of each, count the cost; returns
    the winner. Every kernel choice (linear, int8, GELU) records its entries through this."""
    start = time.perf_counter()
    seconds = timings()
    winner = fastest(seconds, reference)
    measured["entries"] += 1
    measured["seconds"] += time.perf_counter() - start
    table.put(name, {"winner": winner, "rows": rows, "candidates": offered,
                     "microseconds": {k: round(v * 1e6, 1) for k, v in seconds.items()}}, save=save)
    return winner


def cached_winner(table: kernel_cache.KernelTable, name: str, offered: list[str]) -> str | None:
    """Entry ``name``'s winner, or None when the entry is missing or stale: its winner is not
    offered here now (unknown, or unavailable: no compiler), or a candidate offered now was not
    among those it measured (a kernel added since, such as a native one)."""
    entry = table.entries.get(name)
    if entry is None or entry.get("winner") not in offered:
        return None
    measured_names = entry.get("candidates", entry.get("microseconds"))
    if not isinstance(measured_names, dict | list) or any(c not in measured_names for c in offered):
        return None
    return entry["winner"]


def cached_choice(table: kernel_cache.KernelTable, name: str, offered: list[str],
                  measure_and_record: Callable[[], str]) -> str:
    """Entry ``name``'s winner when it is current (``cached_winner``), else measured once under
    the table's lock (another thread may have measured meanwhile), the first one announced."""
    winner = cached_winner(table, name, offered)
    if winner is None:
        with table.lock:
            winner = cached_winner(table, name, offered)
            if winner is None:
                _announce_once(table)
                winner = measure_and_record()
    return winner


def _announce_once(table: kernel_cache.KernelTable) -> None:
    global _announced
    if _announced or not _notices_on():
        return
    _announced = True
    where = f"; kept in {table.path}" if table.path is not None else ""
    print(f"bigmodel: measuring the fastest CPU kernel for new matrix shapes (once{where}; "
          f"`bigmodel tune` does it ahead)", file=sys.stderr, flush=True)


def choose(weight: Tensor, bias: Tensor | None, rows: int) -> str:
    """The name of the fastest kernel for this weight at this many rows (measured if the
    cache has no entry); ``f_linear`` when BIGMODEL_KERNEL_CACHE=off."""
    if kernel_cache.mode() == "off":
        return linear_kernels.REFERENCE
    label, representative = row_bucket(rows)
    name = entry_name(weight.shape[0], weight.shape[1], bias is not None, weight.dtype, label)
    table = kernel_cache.current_table()
    offered = [c.name for c in linear_kernels.candidates_for(representative, weight.dtype, bias is not None)]
    return cached_choice(table, name, offered, lambda: _record(table, name, weight, bias, representative))


def _record(table: kernel_cache.KernelTable, name: str, weight: Tensor, bias: Tensor | None,
            rows: int, save: bool = True) -> str:
    offered = [c.name for c in linear_kernels.candidates_for(rows, weight.dtype, bias is not None)]
    return record(table, name, rows, lambda: measure(weight, bias, rows), linear_kernels.REFERENCE, offered, save)


def tune(shapes: Iterable[tuple[int, int, bool]], dtype: torch.dtype,
         rows: Iterable[int] = tuple(r for _, _, r in ROW_BUCKETS)) -> list[dict[str, Any]]:
    """Measure every (out, in, has_bias) shape at every bucket of ``rows`` afresh, store the
    winners in the cache and return one row per choice (shape, dtype, rows, winner, the
    speedup over F.linear, the microseconds of each candidate)."""
    table = kernel_cache.current_table()
    results = []
    generator = torch.Generator().manual_seed(0)
    for out_features, in_features, has_bias in shapes:
        weight = torch.randn(out_features, in_features, generator=generator).to(dtype)
        bias = torch.randn(out_features, generator=generator).to(dtype) if has_bias else None
        for count in rows:
            label, representative = row_bucket(count)
            name = entry_name(out_features, in_features, has_bias, dtype, label)
            with table.lock:
                winner = _record(table, name, weight, bias, representative, save=False)
            micro = table.entries[name]["microseconds"]
            reference = micro.get(linear_kernels.REFERENCE)
            results.append({
                "shape": f"{out_features}x{in_features}", "bias": has_bias,
                "dtype": str(dtype).removeprefix("torch."), "rows": label, "winner": winner,
                "speedup": round(reference / micro[winner], 2) if reference and micro.get(winner) else 1.0,
                "microseconds": micro,
            })
        del weight, bias
    table.save()
    return results
