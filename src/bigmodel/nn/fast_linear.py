"""y = x Wᵀ + b for inference, through whichever CPU kernel is fastest for the shape at hand.

``F.linear`` is one call for every shape, but on a CPU the library behind it is far from
equally good at all of them, and which alternative wins depends on the CPU: on one 2-core
Xeon with AMX a matrix-vector product (``mv``) won at one row, the weight as the left
operand for small bf16 batches and an oneDNN-packed weight for small fp32 batches; on a
2-core AMD EPYC numpy's OpenBLAS read the weights twice as fast as PyTorch's ``mv``. So
nothing is fixed here: the kernel for each (out x in, dtype, bias, row bucket) is measured on
the machine the first time it is needed, against ``F.linear`` among the candidates, and kept
in the kernel cache (``nn/kernel_choice.py``, ``nn/kernel_cache.py``, ``bigmodel tune``).

A packed copy of a weight is made only when a packed kernel wins, and kept beside the module
until the weight changes (its version counter moves).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .kernel_choice import choose, row_slot
from .linear_kernels import _PACKED, Kernel, build_kernel

__all__ = ["inference_linear", "_PACKED"]  # _PACKED: counted by tests and benchmarks/inference_memory.py


def inference_linear(module: nn.Module) -> Callable[[Tensor], Tensor] | Any:
    """A function x -> module(x) for an ``nn.Linear``, fast when no gradient is needed
    (under ``torch.no_grad``/``inference_mode``); with autograd on it is plain ``F.linear``.

    A module with its own ``inference_function()`` (``Int8Linear``) gives that function; other
    modules are returned as they are.
    """
    if type(module) is not nn.Linear:
        own = getattr(module, "inference_function", None)
        return own() if callable(own) else module
    weight, bias = module.weight, module.bias
    on_cpu = weight.device.type == "cpu"
    kernels: dict[int | str, Kernel] = {}  # rows (above 64: the row bucket) -> its bucket's kernel

    def linear(x: Tensor) -> Tensor:
        if (not on_cpu or x.dtype != weight.dtype or torch.compiler.is_compiling()
                or (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))):
            return F.linear(x, weight, bias)  # the other kernels have no backward
        rows = x.numel() // x.shape[-1]
        slot = row_slot(rows)
        kernel = kernels.get(slot)
        if kernel is None:
            kernel = kernels[slot] = build_kernel(choose(weight, bias, rows), weight, bias)
        return kernel(x.reshape(rows, -1)).view(*x.shape[:-1], -1)

    return linear
