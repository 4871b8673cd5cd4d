"""The candidate CPU kernels for an int8 weight-only linear, y = (x qᵀ) · s + b, one function each.

Every kernel is built from q (out, in) int8, the per-output-channel scale s (out,) and the bias
b (out,) or None, and maps x (rows, in) of dtype fp32 or bf16 to y (rows, out) of x's dtype,
contiguous. They compute the dequantized product x (q · s)ᵀ + b through different code:

- ``int8pack``: torch's ``_weight_int8pack_mm`` in x's dtype (the int8 weight converted inside
  the kernel, never materialized in float);
- ``int8pack_bf16``: the same kernel fed bf16 activations, its result returned as fp32 (for fp32
  x on a CPU with native bf16, where the kernel's fp32 path is several times slower);
- ``dequant``: ``F.linear`` on the weight converted to x's dtype, then the scale (everywhere);
- ``native``: bigmodel's AVX-512 VNNI matrix-vector kernel (``nn/int8_native.py``), which reads
  the int8 weights with software prefetching at close to the core's memory bandwidth.

``nn/int8_choice.py`` times them on the machine itself. Today's path (``default_kernel``) is
always among them, so a choice is never slower than it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from . import int8_native, native_build

Kernel = Callable[[Tensor], Tensor]
Builder = Callable[[Tensor, Tensor, "Tensor | None", torch.dtype], Kernel]  # (q, s, b, x dtype)

HAS_INT8PACK = hasattr(torch.ops.aten, "_weight_int8pack_mm")
NATIVE_MAX_IN = 65536  # its int32 sums of in * 255 * 127 stay below 2³¹
DEQUANT_MIN_ROWS = 8  # up to this many rows dequant is not a candidate (candidates_for)


def _native_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


# Whether this CPU computes bf16 natively (AVX-512 BF16 / AMX), as oneDNN sees it; asked once,
# outside any torch.compile trace.
NATIVE_BF16 = _native_bf16()


def _with_bias(y: Tensor, bias: Tensor | None) -> Tensor:
    return y if bias is None else y.add_(bias)


def _int8pack(q: Tensor, scale: Tensor, bias: Tensor | None, dtype: torch.dtype) -> Kernel:
    s, b = scale.to(dtype).contiguous(), None if bias is None else bias.to(dtype)
    return lambda x: _with_bias(torch.ops.aten._weight_int8pack_mm(x, q, s), b)


def _int8pack_bf16(q: Tensor, scale: Tensor, bias: Tensor | None, dtype: torch.dtype) -> Kernel:
    # bf16 x keeps 8 significant bits: less error than the int8 weight's own (at most s / 2)
    s, b = scale.to(torch.bfloat16).contiguous(), None if bias is None else bias.to(dtype)
    return lambda x: _with_bias(torch.ops.aten._weight_int8pack_mm(x.to(torch.bfloat16), q, s).to(dtype), b)


def _dequant(q: Tensor, scale: Tensor, bias: Tensor | None, dtype: torch.dtype) -> Kernel:
    s, b = scale.to(dtype), None if bias is None else bias.to(dtype)
    return lambda x: _with_bias(F.linear(x, q.to(dtype)) * s, b)


def _native(q: Tensor, scale: Tensor, bias: Tensor | None, dtype: torch.dtype) -> Kernel:
    row_sums = q.sum(dim=1, dtype=torch.int32)  # (out,): u · q = x · q + 128 Σ q
    s = scale.float().contiguous()
    b = None if bias is None else bias.float().contiguous()
    return int8_native.bind_linear(q, row_sums, s, b, native_build.PREFETCH_BYTES)


@dataclass(frozen=True)
class Int8Candidate:
    name: str
    build: Builder
    applies: Callable[[int, torch.dtype], bool]  # (in_features, x dtype) -> bool
    bf16_activations: bool = False  # rounds fp32 x to bf16 (a bf16 tolerance applies)


def int8pack_works(in_features: int, dtype: torch.dtype) -> bool:
    """Whether ``_weight_int8pack_mm`` can take x of this dtype and width: with bf16 x and a width
    not a multiple of 16, torch 2.13's CPU kernel crashes (segfault) or returns wrong values."""
    return HAS_INT8PACK and (dtype != torch.bfloat16 or in_features % 16 == 0)


CANDIDATES: tuple[Int8Candidate, ...] = (
    Int8Candidate("dequant", _dequant, lambda n, dtype: True),
    Int8Candidate("int8pack", _int8pack, int8pack_works),
    Int8Candidate("int8pack_bf16", _int8pack_bf16, lambda n, dtype: (
        dtype == torch.float32 and NATIVE_BF16 and int8pack_works(n, torch.bfloat16)), bf16_activations=True),
    Int8Candidate("native", _native, lambda n, dtype: (
        dtype in (torch.float32, torch.bfloat16) and n <= NATIVE_MAX_IN and int8_native.available())),
)
BY_NAME = {candidate.name: candidate for candidate in CANDIDATES}


def default_kernel(in_features: int, dtype: torch.dtype) -> str:
    """The kernel used before any measurement (and with BIGMODEL_KERNEL_CACHE=off)."""
    if dtype == torch.float32 and NATIVE_BF16 and int8pack_works(in_features, torch.bfloat16):
        return "int8pack_bf16"
    return "int8pack" if int8pack_works(in_features, dtype) else "dequant"


def candidates_for(in_features: int, dtype: torch.dtype, rows: int | None = None) -> list[Int8Candidate]:
    """The kernels that apply to x of this dtype and width (at this many rows); the default first.

    ``dequant`` is not timed at 1-8 rows unless it is the default: converting the whole weight
    to float on every call reads and writes 9 bytes a weight where the others read 1 (measured
    10-50x slower at one row on GPT-2's shapes, Intel(R) Xeon(R) Processor), and timing it would only lengthen the measurement.
    """
    default = default_kernel(in_features, dtype)
    found = [c for c in CANDIDATES if c.applies(in_features, dtype)]
    if rows is not None and rows <= DEQUANT_MIN_ROWS and default != "dequant":
        found = [c for c in found if c.name != "dequant"]
    return sorted(found, key=lambda c: c.name != default)


def build_kernel(name: str, q: Tensor, scale: Tensor, bias: Tensor | None, dtype: torch.dtype) -> Kernel:
    """The kernel ``name`` bound to this weight; an unknown or inapplicable name gives the default."""
    candidate = BY_NAME.get(name)
    if candidate is None or not candidate.applies(q.shape[1], dtype):
        candidate = BY_NAME[default_kernel(q.shape[1], dtype)]
    return candidate.build(q, scale, bias, dtype)
