"""The native int8 matrix-vector kernel (``nn/int8_cpu_source.py``): built once, then loaded.

Built by ``nn/native_build.py`` (the system's C++ compiler, ``<cache>/bigmodel/native/int8-<hash>.so``)
and called through ctypes with the tensors' data pointers. When it cannot be had (no compiler,
not x86-64 Linux, a CPU without AVX-512 VNNI) the kernel is simply unavailable: the int8 layers
keep torch's kernels.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import torch
from torch import Tensor

from . import native_build
from .int8_cpu_source import CPP_SOURCE

_DTYPES = (torch.float32, torch.bfloat16)
Kernel = Callable[[Tensor], Tensor]


@functools.lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The loaded kernel library, building it the first time; None when it is unavailable."""
    lib = native_build.load_library("int8", CPP_SOURCE)
    if lib is None or not lib.bm_int8_supported():
        return None
    lib.bm_int8_linear_bound.restype = None
    lib.bm_int8_linear_bound.argtypes = [ctypes.POINTER(_Weights), ctypes.c_void_p, ctypes.c_int, ctypes.c_int64,
                                         ctypes.c_void_p, ctypes.c_int]
    return lib


class _Weights(ctypes.Structure):
    """The C side's ``BmInt8Weights``: one weight's pointers and sizes, bound once."""

    _fields_ = [("q", ctypes.c_void_p), ("out", ctypes.c_int64), ("in_", ctypes.c_int64),
                ("wsum", ctypes.c_void_p), ("s", ctypes.c_void_p), ("b", ctypes.c_void_p),
                ("prefetch", ctypes.c_int64)]


def available() -> bool:
    return library() is not None


def bind_linear(q: Tensor, row_sums: Tensor, scale: Tensor, bias: Tensor | None, prefetch: int) -> Kernel:
    """x -> y (rows, out) = (x qᵀ) · scale + bias, in x's dtype (fp32 or bf16), x (rows, in) on
    the CPU; ``row_sums`` (out,) int32 = q.sum(1), ``scale`` and ``bias`` fp32, all contiguous
    and kept alive by the returned function (their addresses are looked up once, here)."""
    lib = library()
    if lib is None:
        raise RuntimeError("the native int8 kernel is not available on this machine")
    call = lib.bm_int8_linear_bound
    out, width = q.shape
    weights = ctypes.pointer(_Weights(q.data_ptr(), out, width, row_sums.data_ptr(), scale.data_ptr(),
                                      None if bias is None else bias.data_ptr(), prefetch))
    tensors = (q.detach(), row_sums, scale.detach(), None if bias is None else bias.detach())  # the storage read

    def kernel(x: Tensor) -> Tensor:
        if x.dtype not in _DTYPES or x.shape[-1] != width:
            raise TypeError(f"native int8 kernel: x must be fp32 or bf16 (rows, {width}), got {x.dtype} {tuple(x.shape)}")
        x = x.contiguous()
        y = torch.empty(x.shape[0], out, dtype=x.dtype)
        call(weights, x.data_ptr(), x.dtype == torch.bfloat16, x.shape[0], y.data_ptr(), torch.get_num_threads())
        return y

    kernel.tensors = tensors  # type: ignore[attr-defined]  # alive as long as the kernel
    return kernel


def int8_linear(x: Tensor, q: Tensor, row_sums: Tensor, scale: Tensor, bias: Tensor | None,
                prefetch: int) -> Tensor:
    """One call of :func:`bind_linear`'s kernel."""
    return bind_linear(q, row_sums, scale, bias, prefetch)(x)
