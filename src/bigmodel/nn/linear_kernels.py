"""The candidate CPU kernels for y = x Wᵀ + b at inference, one function each.

Every kernel takes the weight W (out, in), the bias b (out,) or None and x (rows, in) with
x.dtype == W.dtype, and returns y (rows, out), contiguous. They compute the same product
through different libraries and layouts; which is fastest depends on the CPU, the shape, the
dtype and the number of rows, so ``nn/kernel_choice.py`` times them on the machine itself.
``f_linear`` is always among the candidates, so a choice is never slower than ``F.linear``.
``native_bf16`` and ``native_fp32`` are bigmodel's own AVX-512 matrix-vector kernels
(``nn/native_matvec.py``), offered for 1-8 rows where they can be built.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.weak import WeakIdKeyDictionary

from . import native_matvec

Kernel = Callable[[Tensor], Tensor]

# The row count oneDNN lays a packed weight out for (its blocking depends on it only mildly).
PACKED_ROWS_HINT = 8
# Up to this many rows the native kernels are timed (beyond, matrix-product libraries win).
NATIVE_MAX_ROWS = 8

# weight -> its packed copy; kept outside the module so copying or pickling it is unaffected,
# and dropped with the weight.
_PACKED: WeakIdKeyDictionary = WeakIdKeyDictionary()


def mkldnn_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def tensor_version(tensor: Tensor) -> int | None:
    """The tensor's version counter (bumped by in-place changes), or None for an inference
    tensor (made inside torch.inference_mode), which has none: what is derived from it is then
    made once."""
    return None if tensor.is_inference() else tensor._version


class _PackedWeight:
    """The oneDNN-blocked copy of one weight, remade when the weight is modified."""

    def __init__(self, weight: Tensor) -> None:
        self.weight = weight.detach()  # a view sharing the version counter, not a strong ref cycle
        self.version: int | None = -1
        self.packed: Tensor | None = None

    def get(self) -> Tensor:
        version = tensor_version(self.weight)
        if self.packed is None or version != self.version:
            self.packed = torch.ops.mkldnn._reorder_linear_weight(self.weight, PACKED_ROWS_HINT)
            self.version = version
        return self.packed


def _packed_for(weight: Tensor) -> _PackedWeight:
    packed = _PACKED.get(weight)
    # A parameter given new data (``model.to(torch.bfloat16)``, ``param.data = ...``) keeps its
    # identity but not its storage: the copy packed from the old one is of no use any more.
    if packed is None or packed.weight.data_ptr() != weight.data_ptr() or packed.weight.dtype != weight.dtype:
        packed = _PACKED[weight] = _PackedWeight(weight)
    return packed


def _f_linear(weight: Tensor, bias: Tensor | None) -> Kernel:
    return lambda x: F.linear(x, weight, bias)


def _mv(weight: Tensor, bias: Tensor | None) -> Kernel:
    # W·x as a matrix-vector product, the bias added after (addmv pays a fixed cost per call
    # on some builds).
    def kernel(x: Tensor) -> Tensor:
        y = torch.mv(weight, x.view(-1))
        if bias is not None:
            y += bias
        return y.view(1, -1)

    return kernel


def _addmv(weight: Tensor, bias: Tensor | None) -> Kernel:
    assert bias is not None
    return lambda x: torch.addmv(bias, weight, x.view(-1)).view(1, -1)


def _transposed(weight: Tensor, bias: Tensor | None) -> Kernel:
    # (W · xᵀ)ᵀ: the weight as the left operand, which oneDNN runs on another path; the
    # transposed (out, rows) result is copied back with the bias added in the same pass.
    def kernel(x: Tensor) -> Tensor:
        y_t = torch.mm(weight, x.T)  # (out, rows)
        y = torch.empty(x.shape[0], weight.shape[0], dtype=x.dtype, device=x.device)
        if bias is not None:
            torch.add(y_t.T, bias, out=y)
        else:
            y.copy_(y_t.T)
        return y

    return kernel


def _packed(weight: Tensor, bias: Tensor | None) -> Kernel:
    packed = _packed_for(weight)
    return lambda x: torch.ops.mkldnn._linear_pointwise(x, packed.get(), bias, "none", [], "")


def _numpy_blas(weight: Tensor, bias: Tensor | None) -> Kernel:
    # numpy's BLAS (OpenBLAS in the wheels) on views of the same memory: no copy of W, and
    # torch.from_numpy wraps the result without one either.
    import numpy as np

    w = weight.detach().numpy()  # (out, in), shares memory (and in-place updates) with W
    wt = w.T

    def kernel(x: Tensor) -> Tensor:
        xs = x.detach().numpy()
        y = torch.from_numpy(np.dot(w, xs[0])[None] if xs.shape[0] == 1 else np.matmul(xs, wt))
        if bias is not None:
            y += bias
        return y

    return kernel


def numpy_single_threaded() -> bool:
    """Whether numpy's OpenBLAS and torch both run one thread: the only case numpy is offered.

    OpenBLAS picks its thread count once, from OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS) or else
    the usable cores, whatever torch.set_num_threads says. With more than one, its threads spin
    after each call and take the cores from torch's own threads in the operations that follow,
    which timing a kernel alone cannot see: on a 2-core Intel(R) Xeon(R) Processor at two threads,
    GPT-2 fp32 decoding with numpy chosen for the LM head ran 10.9 tok/s, 49.3 without it
    (transformers in the same process fell from 43.6 to 25.1 too).
    """
    value = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or ""
    try:
        blas = int(value.split(",")[0])
    except ValueError:
        blas = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return blas == 1 and torch.get_num_threads() == 1


def _native(weight: Tensor, bias: Tensor | None) -> Kernel:
    # bigmodel's AVX-512 kernels (nn/native_matvec.py): read W once per 4 rows of x
    return native_matvec.bind_linear(weight, bias)


def _native_applies(dtype: torch.dtype) -> Callable[[int, torch.dtype, bool], bool]:
    def applies(rows: int, x_dtype: torch.dtype, bias: bool) -> bool:
        return rows <= NATIVE_MAX_ROWS and x_dtype == dtype and native_matvec.available(dtype)
    return applies


@dataclass(frozen=True)
class Candidate:
    name: str
    build: Callable[[Tensor, Tensor | None], Kernel]
    applies: Callable[[int, torch.dtype, bool], bool]  # (rows, dtype, has_bias) -> bool


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("f_linear", _f_linear, lambda rows, dtype, bias: True),
    Candidate("mv", _mv, lambda rows, dtype, bias: rows == 1),
    Candidate("addmv", _addmv, lambda rows, dtype, bias: rows == 1 and bias),
    Candidate("transposed", _transposed, lambda rows, dtype, bias: rows > 1),
    Candidate("packed", _packed, lambda rows, dtype, bias: (
        mkldnn_available() and dtype in (torch.float32, torch.bfloat16))),
    Candidate("numpy", _numpy_blas, lambda rows, dtype, bias: (
        rows <= 8 and dtype == torch.float32 and numpy_single_threaded())),
    Candidate("native_bf16", _native, _native_applies(torch.bfloat16)),
    Candidate("native_fp32", _native, _native_applies(torch.float32)),
)
BY_NAME = {candidate.name: candidate for candidate in CANDIDATES}
REFERENCE = "f_linear"


def candidates_for(rows: int, dtype: torch.dtype, has_bias: bool) -> list[Candidate]:
    """The kernels that apply to this many rows of this dtype; ``f_linear`` first."""
    return [c for c in CANDIDATES if c.applies(rows, dtype, has_bias)]


def offered(name: str, rows: int, dtype: torch.dtype, has_bias: bool) -> bool:
    """Whether ``name`` is a kernel that applies here (a cached choice may name one from another
    version of bigmodel, or one unavailable now, e.g. the native kernel without a compiler)."""
    candidate = BY_NAME.get(name)
    return candidate is not None and candidate.applies(rows, dtype, has_bias)


def build_kernel(name: str, weight: Tensor, bias: Tensor | None) -> Kernel:
    """The kernel ``name`` bound to this weight; an unknown name, or a native kernel refusing
    this weight's layout (the choice is per shape: another weight of the shape may be a strided
    view), gives ``F.linear``."""
    try:
        return BY_NAME.get(name, BY_NAME[REFERENCE]).build(weight, bias)
    except native_matvec.LayoutError:
        return BY_NAME[REFERENCE].build(weight, bias)
