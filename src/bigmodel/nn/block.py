"""The Transformer layer, the part every family stacks.

Each sub-layer (self-attention, cross-attention, feed-forward) is wrapped in a residual
connection and a LayerNorm. Two placements exist:

    post-LN (Vaswani et al., BERT):  x = LayerNorm(x + Sublayer(x))
    pre-LN  (GPT-2):                 x = x + Sublayer(LayerNorm(x))

Pre-LN keeps an un-normalized residual path from input to output, which is why deep GPTs
train without warm-up tricks; GPT-2 adds one final LayerNorm after the last block.

``forward`` composes the sub-modules (training, attention weights, cross-attention);
``fused`` is the same computation for cached inference, with every weight and kernel looked
up once per generation and the cache variant (growing, or static for ``torch.compile``)
passed in. Both read the same sub-modules, so a change to them (bias, activation, LoRA,
int8) holds on both paths.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from .attention import CachedAttention, KVCache, MultiHeadAttention
from .feedforward import FeedForward


class TransformerBlock(nn.Module):
    """Self-attention (+ cross-attention for a decoder) + feed-forward, each residual."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        *,
        norm_first: bool,
        causal: bool = False,
        cross_attention: bool = False,
        activation: str = "gelu",
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        layer_norm_eps: float = 1e-5,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.causal = causal
        self.self_attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=attn_dropout)
        self.self_attn_norm = nn.LayerNorm(d_model, eps=layer_norm_eps)
        if cross_attention:
            self.cross_attn = MultiHeadAttention(
                d_model, n_heads, bias=bias, dropout=attn_dropout, cross_attention=True
            )
            self.cross_attn_norm = nn.LayerNorm(d_model, eps=layer_norm_eps)
        else:
            self.cross_attn = None
        self.ffn = FeedForward(d_model, d_ff, activation=activation, dropout=dropout, bias=bias)
        self.ffn_norm = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        *,
        attn_bias: Tensor | None = None,
        kv_cache: KVCache | None = None,
        layer_idx: int = 0,
        context: Tensor | None = None,
        context_bias: Tensor | None = None,
        cross_cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """x (B, T, d_model) -> (x, self-attention weights, cross-attention weights)."""

        def self_attention(h: Tensor) -> tuple[Tensor, Tensor | None]:
            out, w = self.self_attn(
                h,
                attn_bias=attn_bias,
                is_causal=self.causal,
                kv_cache=kv_cache,
                layer_idx=layer_idx,
                need_weights=need_weights,
            )
            return self.dropout(out), w

        def cross_attention(h: Tensor) -> tuple[Tensor, Tensor | None]:
            out, w = self.cross_attn(
                h,
                context=context,
                attn_bias=context_bias,
                kv_cache=cross_cache,
                layer_idx=layer_idx,
                need_weights=need_weights,
            )
            return self.dropout(out), w

        cross_weights = None
        if self.norm_first:
            out, self_weights = self_attention(self.self_attn_norm(x))
            x = x + out
            if self.cross_attn is not None:
                out, cross_weights = cross_attention(self.cross_attn_norm(x))
                x = x + out
            x = x + self.ffn(self.ffn_norm(x))
        else:
            out, self_weights = self_attention(x)
            x = self.self_attn_norm(x + out)
            if self.cross_attn is not None:
                out, cross_weights = cross_attention(x)
                x = self.cross_attn_norm(x + out)
            x = self.ffn_norm(x + self.ffn(x))
        return x, self_weights, cross_weights

    def fused(self) -> Callable[[Tensor, CachedAttention, int], Tensor]:
        """This block for inference as one function (h, attention, layer) -> h, h (B, T, d),
        op for op what ``forward`` computes in eval mode, without per-module call overhead
        (it dominates batch-1 decoding)::

            pre-LN:   a = h + SelfAttn(LN_1(h))       h' = a + FFN(LN_2(a))
            post-LN:  a = LN_1(h + SelfAttn(h))       h' = LN_2(a + FFN(a))

        ``attention`` is the cache variant (``GrowingCacheAttention`` or
        ``StaticCacheAttention``) and ``layer`` this block's index into it.
        """
        if self.cross_attn is not None:
            raise ValueError("the fused inference path has no cross-attention")
        self_attention, feed_forward, causal = self.self_attn.fused(), self.ffn.fused(), self.causal
        ln1, ln2 = self.self_attn_norm, self.ffn_norm
        shape = ln1.normalized_shape
        w1, b1, eps1 = ln1.weight, ln1.bias, ln1.eps
        w2, b2, eps2 = ln2.weight, ln2.bias, ln2.eps

        if self.norm_first:
            def pre_ln_block(h: Tensor, attention: CachedAttention, layer: int) -> Tensor:
                x = F.layer_norm(h, shape, w1, b1, eps1)
                h = h + self_attention(x, attention, layer, causal)
                return h + feed_forward(F.layer_norm(h, shape, w2, b2, eps2))

            return pre_ln_block

        def post_ln_block(h: Tensor, attention: CachedAttention, layer: int) -> Tensor:
            h = F.layer_norm(h + self_attention(h, attention, layer, causal), shape, w1, b1, eps1)
            return F.layer_norm(h + feed_forward(h), shape, w2, b2, eps2)

        return post_ln_block
