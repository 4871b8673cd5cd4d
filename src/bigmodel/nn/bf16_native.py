"""The native bf16 matrix-vector kernel (``nn/bf16_cpu_source.py``): built once, then loaded.

Built by ``nn/native_build.py``, as the int8 kernel is (the system's C++ compiler, the user's
cache folder, an atomic write, a hash of source, flags and compiler version in the file name
``bf16-<hash>.so``), and called through ctypes with the tensors' data
pointers. Without a compiler, off x86-64 Linux, or on a CPU without AVX-512 BF16 it is
unavailable, and ``nn/linear_kernels.py`` does not offer it as a candidate.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import torch
from torch import Tensor

from . import native_build
from .bf16_cpu_source import CPP_SOURCE

Kernel = Callable[[Tensor], Tensor]
# Bytes prefetched ahead of the reading position (all streams together); the int8 kernel's
# measured best on the project's Xeon, where the hardware prefetcher alone reads at about half
# the bandwidth.
PREFETCH = 8192


class _Weights(ctypes.Structure):
    """The C side's ``BmBf16Weights``: one weight's pointers and sizes, bound once."""

    _fields_ = [("w", ctypes.c_void_p), ("out", ctypes.c_int64), ("in_", ctypes.c_int64),
                ("b", ctypes.c_void_p), ("prefetch", ctypes.c_int64)]


@functools.lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The loaded kernel library, building it the first time; None when it is unavailable."""
    lib = native_build.load_library("bf16", CPP_SOURCE)
    if lib is None or not lib.bm_bf16_supported():
        return None
    lib.bm_bf16_linear_bound.restype = None
    lib.bm_bf16_linear_bound.argtypes = [ctypes.POINTER(_Weights), ctypes.c_void_p, ctypes.c_int64,
                                         ctypes.c_void_p, ctypes.c_int]
    return lib


def available() -> bool:
    return library() is not None


def bind_linear(weight: Tensor, bias: Tensor | None, prefetch: int = PREFETCH) -> Kernel:
    """x (rows, in) bf16 -> y (rows, out) = x Wᵀ + b in bf16 (fp32 sums), for a contiguous bf16
    weight W (out, in) on the CPU and a bias (out,) or None; W is read in place (its address is
    looked up once, here) and kept alive by the returned function."""
    lib = library()
    if lib is None:
        raise RuntimeError("the native bf16 kernel is not available on this machine")
    if weight.dtype != torch.bfloat16 or weight.device.type != "cpu" or not weight.is_contiguous():
        raise ValueError("native bf16 kernel: the weight must be a contiguous bf16 CPU tensor")
    if weight.dim() != 2 or weight.numel() == 0:
        raise ValueError(f"native bf16 kernel: the weight must be (out, in), both > 0, not {tuple(weight.shape)}")
    call = lib.bm_bf16_linear_bound
    out, width = weight.shape
    b = None if bias is None else bias.detach().float().contiguous()
    weights = ctypes.pointer(_Weights(weight.data_ptr(), out, width, None if b is None else b.data_ptr(),
                                      prefetch))
    tensors = (weight, b)

    def kernel(x: Tensor) -> Tensor:
        if x.dtype != torch.bfloat16 or x.dim() != 2 or x.shape[1] != width:
            raise TypeError(f"native bf16 kernel: x must be bf16 (rows, {width}), got {x.dtype} {tuple(x.shape)}")
        x = x.contiguous()
        y = torch.empty(x.shape[0], out, dtype=torch.bfloat16)
        call(weights, x.data_ptr(), x.shape[0], y.data_ptr(), torch.get_num_threads())
        return y

    kernel.tensors = tensors  # type: ignore[attr-defined]  # alive as long as the kernel
    return kernel
