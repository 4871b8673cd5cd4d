"""The native matrix-vector kernels, bf16 and fp32 (``nn/matvec_cpu_source.py``): built once,
then loaded.

Built by ``nn/native_build.py``, as the int8 kernel is (the system's C++ compiler, the user's
cache folder, an atomic write, a hash of source, flags and compiler version in the file name
``matvec-<hash>.so``), and called through ctypes with the tensors' data pointers. Without a
compiler, off x86-64 Linux, or on a CPU without AVX-512 (AVX-512 BF16 for the bf16 kernel) a
kernel is unavailable, and ``nn/linear_kernels.py`` does not offer it as a candidate.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import torch
from torch import Tensor

from . import native_build
from .matvec_cpu_source import CPP_SOURCE

Kernel = Callable[[Tensor], Tensor]
PREFETCH = native_build.PREFETCH_BYTES
# dtype -> (the C entry point, the C check that the CPU runs it)
ENTRY_POINTS = {torch.bfloat16: ("bm_bf16_linear_bound", "bm_bf16_supported"),
                torch.float32: ("bm_f32_linear_bound", "bm_f32_supported")}


class LayoutError(ValueError):
    """A weight the kernel cannot read in place (not a contiguous bf16 / fp32 (out, in) CPU tensor)."""


class _Weights(ctypes.Structure):
    """The C side's ``BmMatvecWeights``: one weight's pointers and sizes, bound once."""

    _fields_ = [("w", ctypes.c_void_p), ("out", ctypes.c_int64), ("in_", ctypes.c_int64),
                ("b", ctypes.c_void_p), ("prefetch", ctypes.c_int64)]


@functools.lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The loaded kernel library, building it the first time; None when it is unavailable."""
    lib = native_build.load_library("matvec", CPP_SOURCE)
    if lib is None:
        return None
    for call, _ in ENTRY_POINTS.values():
        function = getattr(lib, call)
        function.restype = None
        function.argtypes = [ctypes.POINTER(_Weights), ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p,
                             ctypes.c_int]
    return lib


@functools.cache
def available(dtype: torch.dtype = torch.bfloat16) -> bool:
    """Whether the kernel for weights of ``dtype`` runs here (built, and the CPU has what it needs)."""
    lib = library()
    return lib is not None and dtype in ENTRY_POINTS and bool(getattr(lib, ENTRY_POINTS[dtype][1])())


def bind_linear(weight: Tensor, bias: Tensor | None, prefetch: int = PREFETCH) -> Kernel:
    """x (rows, in) -> y (rows, out) = x Wᵀ + b in W's dtype (bf16 or fp32; fp32 sums), for a
    contiguous weight W (out, in) on the CPU and a bias (out,) or None; W is read in place (its
    address is looked up once, here) and kept alive by the returned function."""
    dtype = weight.dtype
    if dtype not in ENTRY_POINTS or weight.device.type != "cpu" or not weight.is_contiguous():
        raise LayoutError("native matvec kernel: the weight must be a contiguous bf16 or fp32 CPU tensor")
    if not available(dtype):
        raise RuntimeError(f"the native {str(dtype).removeprefix('torch.')} kernel is not available on this machine")
    if weight.dim() != 2 or weight.numel() == 0:
        raise LayoutError(f"native matvec kernel: the weight must be (out, in), both > 0, not {tuple(weight.shape)}")
    call = getattr(library(), ENTRY_POINTS[dtype][0])
    out, width = weight.shape
    b = None if bias is None else bias.detach().float().contiguous()
    weights = ctypes.pointer(_Weights(weight.data_ptr(), out, width, None if b is None else b.data_ptr(),
                                      prefetch))
    tensors = (weight.detach(), b)  # the storage read (a parameter may be given new data later)

    def kernel(x: Tensor) -> Tensor:
        if x.dtype != dtype or x.dim() != 2 or x.shape[1] != width:
            raise TypeError(f"native matvec kernel: x must be {str(dtype).removeprefix('torch.')} (rows, {width}), "
                            f"got {x.dtype} {tuple(x.shape)}")
        x = x.contiguous()
        y = torch.empty(x.shape[0], out, dtype=dtype)
        call(weights, x.data_ptr(), x.shape[0], y.data_ptr(), torch.get_num_threads())
        return y

    kernel.tensors = tensors  # type: ignore[attr-defined]  # alive as long as the kernel
    return kernel
