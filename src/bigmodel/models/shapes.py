"""A model's shape as the planner's formulas read it: stacks of layers, parameter counts.

Each family module gives a function (name, architecture, config) -> :class:`ModelShape`
(``FamilyMap.shape``); the planner (planning/) computes FLOPs, memory and time from the
shape alone, never asking which family it came from. No torch: a config is read, not built.

Parameters of one Transformer layer (LayerNorm = 2d, Linear(n, m) = n·m + m)::

    self-attention  4d² + 4d       (fused qkv 3d² + 3d, output d² + d)
    feed-forward    2df + f + d
    LayerNorms      2 · 2d         (3 · 2d in a decoder layer with cross-attention)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Stack:
    """A stack of identical Transformer layers."""

    n_layers: int
    d_model: int
    n_heads: int
    d_ff: int
    causal: bool
    cross_attention: bool = False
    bias: bool = True
    pre_ln: bool = True


@dataclass
class ModelShape:
    """What the formulas need to know about a model, read from its config."""

    name: str
    family: str
    architecture: str
    config: Any
    stacks: list[Stack] = field(default_factory=list)
    vocab_size: int = 0
    max_seq_len: int = 0
    attn_dropout: float = 0.0
    dropout: float = 0.0
    backbone_params: int = 0
    head_params: int = 0
    embedding_params: int = 0
    output_layer: int = 0  # weights of the vocabulary projection used per token (V·d or 0)
    image_size: int = 0  # an image model: input resolution the FLOPs are counted at
    conv_macs_per_image: int = 0
    conv_activation_elems: int = 0  # image model: outputs of every conv/bn/relu for one image
    largest_map_elems: int = 0  # image model: the largest feature map of one image
    embedding_norm: bool = False  # a LayerNorm after the embeddings (BERT): its output is saved
    # The output layer is fused with the loss (nn/losses.py): no logits are kept in training.
    fused_loss: bool = False
    # A classifier head is trained (fresh) beside LoRA adapters.
    trains_head_with_lora: bool = False

    @property
    def is_decoder(self) -> bool:
        return any(s.causal for s in self.stacks)

    @property
    def reads_images(self) -> bool:
        return self.image_size > 0

    @property
    def n_layers(self) -> int:
        return sum(s.n_layers for s in self.stacks)


def linear_params(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def layer_params(s: Stack) -> int:
    """One Transformer layer of the stack (see the module docstring)."""
    d, f = s.d_model, s.d_ff
    attn = linear_params(d, 3 * d, s.bias) + linear_params(d, d, s.bias)
    cross = 0
    if s.cross_attention:
        cross = (
            linear_params(d, d, s.bias)
            + linear_params(d, 2 * d, s.bias)
            + linear_params(d, d, s.bias)
        )
    ffn = linear_params(d, f, s.bias) + linear_params(f, d, s.bias)
    norms = 2 * d * (3 if s.cross_attention else 2)
    return attn + cross + ffn + norms


__all__ = ["ModelShape", "Stack", "layer_params", "linear_params"]
