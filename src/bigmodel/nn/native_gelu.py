"""The tanh-approximation GELU at inference: PyTorch's or bigmodel's native one
(``nn/gelu_cpu_source.py``), whichever is measured faster on the machine it runs on.

The native kernel is built by ``nn/native_build.py`` (library ``gelu-<hash>.so``) and called
through ctypes; it needs AVX-512 and a C++ compiler, else only ``F.gelu`` is offered. The choice
is made as the linear kernels' is (``nn/kernel_choice.py``): for one (width, dtype, row bucket)
both are timed in interleaved rounds on a random x, a result differing from ``F.gelu`` beyond
float tolerance is out, a win within ``kernel_choice.MARGIN`` keeps ``F.gelu``, and the winner is
kept in the kernel cache file under a ``gelu-tanh …`` entry.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from . import kernel_cache, kernel_choice, native_build
from .gelu_cpu_source import CPP_SOURCE

REFERENCE = "f_gelu"
_ENTRY_POINTS = {torch.float32: "bm_gelu_tanh_f32", torch.bfloat16: "bm_gelu_tanh_bf16"}


@functools.lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The loaded kernel library, building it the first time; None when it is unavailable."""
    lib = native_build.load_library("gelu", CPP_SOURCE)
    if lib is None or not lib.bm_gelu_supported():
        return None
    for name in _ENTRY_POINTS.values():
        function = getattr(lib, name)
        function.restype = None
        function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]
    return lib


def available() -> bool:
    return library() is not None


def gelu_tanh(x: Tensor) -> Tensor:
    """½ x (1 + tanh(√(2/π) (x + 0.044715 x³))) by the native kernel, for a fp32 or bf16 CPU x."""
    lib = library()
    if lib is None:
        raise RuntimeError("the native GELU kernel is not available on this machine")
    if x.dtype not in _ENTRY_POINTS or x.device.type != "cpu":
        raise TypeError(f"native GELU: x must be a fp32 or bf16 CPU tensor, got {x.dtype} on {x.device}")
    x = x.contiguous()
    y = torch.empty_like(x)
    getattr(lib, _ENTRY_POINTS[x.dtype])(x.data_ptr(), y.data_ptr(), x.numel(), torch.get_num_threads())
    return y


def _f_gelu(x: Tensor) -> Tensor:
    return F.gelu(x, approximate="tanh")


KERNELS: dict[str, Callable[[Tensor], Tensor]] = {REFERENCE: _f_gelu, "native": gelu_tanh}


def entry_name(width: int, dtype: torch.dtype, bucket: str) -> str:
    return f"gelu-tanh {width} {str(dtype).removeprefix('torch.')} rows {bucket}"


def _offered(dtype: torch.dtype) -> list[str]:
    native = dtype in _ENTRY_POINTS and available()
    return [REFERENCE, "native"] if native else [REFERENCE]


def measure(width: int, dtype: torch.dtype, rows: int) -> dict[str, float]:
    """Seconds per call (fastest of the rounds) of each offered GELU that agrees with F.gelu."""
    x = (torch.randn(rows, width, generator=torch.Generator().manual_seed(0)) * 3).to(dtype)
    with torch.inference_mode():
        reference = _f_gelu(x).float()
        tolerance = kernel_choice._tolerance(dtype) * (float(reference.abs().max()) or 1.0)
        agreeing = {}
        for name in _offered(dtype):
            try:
                if float((KERNELS[name](x).float() - reference).abs().max()) <= tolerance:
                    agreeing[name] = [KERNELS[name]]
            except (RuntimeError, TypeError, ValueError, OSError):
                continue
        return kernel_choice.interleaved_seconds(agreeing, x)


def _record(table: kernel_cache.KernelTable, name: str, width: int, dtype: torch.dtype, rows: int,
            save: bool = True) -> str:
    return kernel_choice.record(table, name, rows, lambda: measure(width, dtype, rows), REFERENCE, _offered(dtype),
                                save)


def choose(width: int, dtype: torch.dtype, rows: int) -> str:
    """The GELU measured fastest for x (rows, width) in ``dtype`` (measured if the cache has no
    entry); ``f_gelu`` when BIGMODEL_KERNEL_CACHE=off."""
    if kernel_cache.mode() == "off":
        return REFERENCE
    label, representative = kernel_choice.row_bucket(rows)
    name = entry_name(width, dtype, label)
    table = kernel_cache.current_table()
    return kernel_choice.cached_choice(table, name, _offered(dtype),
                                       lambda: _record(table, name, width, dtype, representative))


def tune(widths: Iterable[int], dtype: torch.dtype,
         rows: Iterable[int] = tuple(r for _, _, r in kernel_choice.ROW_BUCKETS)) -> list[dict[str, Any]]:
    """Measure the GELU at every width and bucket of ``rows`` afresh, store the winners and return
    one row per choice, as ``kernel_choice.tune`` does (``reference``: what the speedup is over)."""
    table = kernel_cache.current_table()
    results = []
    for width in widths:
        for count in rows:
            label, representative = kernel_choice.row_bucket(count)
            name = entry_name(width, dtype, label)
            with table.lock:
                winner = _record(table, name, width, dtype, representative, save=False)
            micro = table.entries[name]["microseconds"]
            base = micro.get(REFERENCE)
            results.append({
                "shape": f"gelu-tanh {width}", "bias": False, "dtype": str(dtype).removeprefix("torch."),
                "rows": label, "winner": winner, "reference": "F.gelu",
                "speedup": round(base / micro[winner], 2) if base and micro.get(winner) else 1.0,
                "microseconds": micro,
            })
    table.save()
    return results


def inference_gelu_tanh() -> Callable[[Tensor], Tensor]:
    """x -> GELU_tanh(x) by the kernel measured fastest for x's width, dtype and row bucket
    (looked up once per shape); ``F.gelu`` itself when x needs a gradient, is not on the CPU,
    or is being traced by ``torch.compile``."""
    chosen: dict[tuple[int, torch.dtype, int | str], Callable[[Tensor], Tensor]] = {}

    def gelu(x: Tensor) -> Tensor:
        if (x.device.type != "cpu" or torch.compiler.is_compiling()
                or (torch.is_grad_enabled() and x.requires_grad)):
            return _f_gelu(x)
        width = x.shape[-1]
        rows = x.numel() // max(width, 1)
        key = (width, x.dtype, kernel_choice.row_slot(rows))
        kernel = chosen.get(key)
        if kernel is None:
            kernel = chosen[key] = KERNELS[choose(width, x.dtype, rows)]
        return kernel(x)

    return gelu
