"""Position-wise feed-forward network (Vaswani et al. 2017, eq. 2)::

    FFN(x) = act(x W_1 + b_1) W_2 + b_2       x: (B, T, d_model), W_1: (d_model, d_ff)

applied to every position independently. The original uses ReLU; BERT uses the exact GELU
x·Φ(x); GPT-2 the tanh approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from .fast_linear import inference_linear
from .native_gelu import inference_gelu_tanh

ACTIVATIONS = ("relu", "gelu", "gelu_new")
TANH_GELUS = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")


def activation(name: str, x: Tensor) -> Tensor:
    """Apply the activation named as in Hugging Face configs (``hidden_act``)."""
    if name == "gelu":
        return F.gelu(x)
    if name in TANH_GELUS:
        return F.gelu(x, approximate="tanh")
    if name == "relu":
        return F.relu(x)
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")


class FeedForward(nn.Module):
    """fc_in (d_model -> d_ff), activation, fc_out (d_ff -> d_model), dropout."""

    def __init__(
        self, d_model: int, d_ff: int, *, activation: str = "gelu", dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS and activation not in ("gelu_pytorch_tanh", "gelu_fast"):
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        self.fc_in = nn.Linear(d_model, d_ff, bias=bias)
        self.fc_out = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.fc_out(activation(self.activation, self.fc_in(x))))

    def fused(self) -> Callable[[Tensor], Tensor]:
        """The same map for inference (no dropout) with the weights looked up once, and the
        tanh GELU by the kernel measured fastest (``nn/native_gelu.py``)."""
        fc_in, fc_out = inference_linear(self.fc_in), inference_linear(self.fc_out)
        act = inference_gelu_tanh() if self.activation in TANH_GELUS else functools.partial(activation, self.activation)

        def feed_forward(x: Tensor) -> Tensor:
            return fc_out(act(fc_in(x)))

        return feed_forward
