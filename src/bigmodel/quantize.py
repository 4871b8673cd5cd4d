"""Int8 weight-only quantization: a quarter of the fp32 weight bytes for each decoded token.

Batch-1 decoding reads every weight once per token, so on a CPU its speed is set by
memory bandwidth, not arithmetic. Storing weights as int8 with one scale per output
channel (symmetric, per row of W (out, in)):

    s_o = max_i |W_oi| / 127          q_oi = round(W_oi / s_o) ∈ [-127, 127]
    y = x Wᵀ + b ≈ (x qᵀ) · s + b     (activations stay in float: "weight-only")

cuts the bytes read per token 4× against fp32 and 2× against bf16, at an error of at most
s_o / 2 per weight. Which kernel computes the product is measured on the machine, like the
float linears' (``nn/int8_choice.py``, candidates in ``nn/int8_kernels.py``): torch's
``_weight_int8pack_mm`` (int8 weights converted inside the kernel, fed bf16 activations for
fp32 x on a CPU with native bf16, where its fp32 path is 4.6x slower at one row), a
dequantize-then-matmul fallback, and bigmodel's AVX-512 VNNI kernel (``nn/int8_native.py``),
which equals the dequantized product to float rounding and, on Intel(R) Xeon(R) Processor (2 cores, AMX), read
GPT-2's weights at one row about twice as fast as ``_weight_int8pack_mm``. Under
``torch.compile``, on other devices, or with BIGMODEL_KERNEL_CACHE=off the layer runs today's
kernel (``int8_kernels.default_kernel``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .errors import BigModelError
from .nn import int8_kernels
from .nn.int8_choice import choose
from .nn.kernel_choice import row_slot
from .nn.linear_kernels import tensor_version

__all__ = ["Int8Linear", "quantize_int8", "quantize_weight"]

_CHOSEN_FOR = (torch.float32, torch.bfloat16)  # activation dtypes whose kernel is measured


def quantize_weight(weight: Tensor) -> tuple[Tensor, Tensor]:
    """W (out, in) float -> (q int8 (out, in), s float32 (out,)) with W ≈ q · s[:, None]."""
    w = weight.detach().float()
    scale = (w.abs().amax(dim=1) / 127.0).clamp_min(1e-12)
    q = torch.round(w / scale[:, None]).clamp_(-127, 127).to(torch.int8)
    return q.contiguous(), scale


class Int8Linear(nn.Module):
    """A Linear whose weight is int8 with per-output-channel scales (inference only)."""

    def __init__(self, weight: Tensor, bias: Tensor | None, compute_dtype: torch.dtype) -> None:
        super().__init__()
        q, scale = quantize_weight(weight)
        self.in_features = weight.shape[1]
        self.out_features = weight.shape[0]
        self.register_buffer("qweight", q)
        self.register_buffer("scale", scale.to(compute_dtype))
        self.bias = None if bias is None else nn.Parameter(bias.detach().to(compute_dtype), requires_grad=False)

    @classmethod
    def from_linear(cls, linear: nn.Linear, compute_dtype: torch.dtype | None = None) -> Int8Linear:
        return cls(linear.weight, linear.bias, compute_dtype or linear.weight.dtype)

    def forward(self, x: Tensor) -> Tensor:
        rows = x.numel() // self.in_features
        x2 = x.reshape(rows, self.in_features)
        if x.device.type != "cpu" or x.dtype not in _CHOSEN_FOR or torch.compiler.is_compiling():
            y = self._today(x2)
        else:
            y = self._kernel(rows, x.dtype)(x2)
        return y.view(*x.shape[:-1], self.out_features)

    def _today(self, x2: Tensor) -> Tensor:
        # what runs where no kernel is chosen: under torch.compile, off the CPU, other dtypes
        cpu = x2.device.type == "cpu"
        name = int8_kernels.default_kernel(self.in_features, x2.dtype) if cpu else "dequant"
        return int8_kernels.build_kernel(name, self.qweight, self.scale, self.bias, x2.dtype)(x2)

    def _kernel(self, rows: int, dtype: torch.dtype) -> int8_kernels.Kernel:
        """The chosen kernel for this many rows of x, bound to this layer's tensors (rebuilt when
        they are replaced or modified in place)."""
        q, scale, bias = self.qweight, self.scale, self.bias
        kernels = self.__dict__.setdefault("_kernels", {})
        key = (row_slot(rows), dtype)
        found = kernels.get(key)
        versions = (tensor_version(q), tensor_version(scale))
        if (found is None or found[0] is not q or found[1] is not scale or found[2] is not bias
                or found[3] != versions):
            kernel = int8_kernels.build_kernel(choose(q, scale, bias, dtype, rows), q, scale, bias, dtype)
            found = kernels[key] = (q, scale, bias, versions, kernel)
        return found[4]

    def inference_function(self) -> Callable[[Tensor], Tensor]:
        """x -> self(x) without the module call and the per-call lookups, for one generation
        (``nn/fast_linear.py``'s ``inference_linear`` asks for it): each row bucket's kernel is
        looked up once, so weights changed meanwhile need a new function."""
        kernels: dict[tuple[int | str, torch.dtype], int8_kernels.Kernel] = {}
        in_features, out_features = self.in_features, self.out_features

        def linear(x: Tensor) -> Tensor:
            if x.device.type != "cpu" or x.dtype not in _CHOSEN_FOR or torch.compiler.is_compiling():
                return self(x)
            rows = x.numel() // in_features
            slot = (row_slot(rows), x.dtype)
            kernel = kernels.get(slot)
            if kernel is None:
                kernel = kernels[slot] = self._kernel(rows, x.dtype)
            return kernel(x.reshape(rows, in_features)).view(*x.shape[:-1], out_features)

        return linear

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_kernels", None)  # closures over this layer's tensors: rebuilt on first use
        return state

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weight-only"


def quantize_int8(model: nn.Module, *, skip: tuple[str, ...] = ()) -> nn.Module:
    """Replace every nn.Linear of ``model`` (in place) by an :class:`Int8Linear`.

    A Linear whose weight is shared with an embedding (GPT's tied LM head) is quantized as
    a copy; the embedding keeps its float table for lookups. ``skip``: module names to leave.
    Returns ``model``, which is then for inference only.
    """
    if getattr(model, "training", False):
        model.eval()
    targets = [(name, module) for name, module in model.named_modules()
               if isinstance(module, nn.Linear) and not any(name == s or name.startswith(s + ".") for s in skip)]
    if not targets:
        raise BigModelError("quantize: this model has no Linear layers to quantize")
    for name, linear in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, Int8Linear.from_linear(linear))
    return model
