"""y = x Wᵀ + b for inference, through whichever CPU kernel is fastest for the shape at hand.

``F.linear`` is one call for every shape, but on a CPU the library behind it is far from
equally good at all of them. Measured on this project's 2-core machine (24 matrices of
3,072 x 768, the MLP of GPT-2 124M), the choices below beat ``F.linear`` by:

    rows = 1 (batch-1 decoding)   fp32 and bf16: W·x as a matrix-vector product (``mv``),
                                  bias added after: 1.1-1.9x (``addmv`` pays ~30 µs per call)
    rows 2-32, bf16 / fp16        (W · xᵀ)ᵀ: the same product with the weight as the left
                                  operand, which oneDNN runs on a faster path: 1.3x at 8 rows
                                  (at 512 rows copying the transposed result back costs more
                                  than the product saves)
    rows 2-64, fp32               oneDNN with the weight packed once into its blocked layout:
                                  1.8x at 8 rows

Everything else goes to ``F.linear``. The packed copy of a weight is made on first use and
kept beside the module until the weight changes (its version counter moves).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.weak import WeakIdKeyDictionary

PACKED_FP32_MAX_ROWS = 64
TRANSPOSED_LOW_PRECISION_MAX_ROWS = 32

# weight -> its packed copy; kept outside the module so copying or pickling it is unaffected,
# and dropped with the weight.
_PACKED: WeakIdKeyDictionary = WeakIdKeyDictionary()


def _mkldnn_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


class _PackedWeight:
    """The oneDNN-blocked copy of one fp32 weight, remade when the weight is modified."""

    def __init__(self, weight: Tensor) -> None:
        self.weight = weight.detach()  # a view sharing the version counter, not a strong ref cycle
        self.version = -1
        self.packed: Tensor | None = None

    def get(self) -> Tensor:
        version = self.weight._version
        if self.packed is None or version != self.version:
            self.packed = torch.ops.mkldnn._reorder_linear_weight(self.weight.detach(), 8)
            self.version = version
        return self.packed


def inference_linear(module: nn.Module) -> Callable[[Tensor], Tensor] | Any:
    """A function x -> module(x) for an ``nn.Linear``, fast when no gradient is needed
    (under ``torch.no_grad``/``inference_mode``); with autograd on it is plain ``F.linear``.

    Other modules (e.g. ``Int8Linear``) are returned as they are.
    """
    if type(module) is not nn.Linear:
        return module
    weight, bias = module.weight, module.bias
    low_precision = weight.dtype in (torch.bfloat16, torch.float16)
    packed: _PackedWeight | None = None
    if not low_precision and weight.device.type == "cpu" and _mkldnn_available():
        packed = _PACKED.get(weight)
        if packed is None:
            packed = _PACKED[weight] = _PackedWeight(weight)

    def linear(x: Tensor) -> Tensor:
        rows = x.numel() // x.shape[-1]
        if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
            return F.linear(x, weight, bias)  # the packed kernels have no backward
        if rows == 1:
            y = torch.mv(weight, x.reshape(-1))
            if bias is not None:
                y += bias
        elif low_precision and rows <= TRANSPOSED_LOW_PRECISION_MAX_ROWS and x.dtype == weight.dtype:
            y_t = torch.mm(weight, x.reshape(rows, -1).T)  # (out, rows)
            y = torch.empty(rows, weight.shape[0], dtype=x.dtype, device=x.device)
            if bias is not None:
                torch.add(y_t.T, bias, out=y)
            else:
                y.copy_(y_t.T)
        elif packed is not None and rows <= PACKED_FP32_MAX_ROWS and x.dtype == torch.float32:
            y = torch.ops.mkldnn._linear_pointwise(x.reshape(rows, -1), packed.get(), bias, "none", [], "")
        else:
            return F.linear(x, weight, bias)
        return y.view(*x.shape[:-1], -1)

    return linear
