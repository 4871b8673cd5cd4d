"""Attention: the one operation every family here is built on.

Scaled dot-product attention (Vaswani et al. 2017, eq. 1)::

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k + M) V

    Q: (B, nh, T_q, d_k)   K: (B, nh, T_k, d_k)   V: (B, nh, T_k, d_v)
    M: (B or 1, 1, T_q, T_k) additive mask, 0 where a query may look, -inf (here: the
       dtype's most negative number, so that a fully masked row stays finite) elsewhere
    output: (B, nh, T_q, d_v)

Multi-head attention runs ``nh`` of these in parallel on learned projections and mixes the
heads with an output projection::

    head_i = Attention(X_q W_i^Q, X_kv W_i^K, X_kv W_i^V)
    MultiHead(X_q, X_kv) = Concat(head_1, ..., head_nh) W^O

Self-attention has X_q = X_kv; cross-attention (the decoder looking at the encoder) takes
X_kv from the encoder output. A causal mask (GPT, the Transformer decoder) forbids position
i to look at j > i, which is what makes p(x_i | x_<i) a proper factorization.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .fast_linear import inference_linear

__all__ = [
    "GrowingCacheAttention",
    "KVCache",
    "MultiHeadAttention",
    "StaticCacheAttention",
    "causal_mask",
    "make_attention_bias",
    "scaled_dot_product_attention",
]


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_bias: Tensor | None = None,
    *,
    is_causal: bool = False,
    dropout_p: float = 0.0,
    need_weights: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """softmax(Q Kᵀ / √d_k + M) V, and the weights when ``need_weights``.

    Shapes: query (B, nh, T_q, d_k), key (B, nh, T_k, d_k), value (B, nh, T_k, d_v),
    attn_bias broadcastable to (B, nh, T_q, T_k). ``is_causal`` applies the mask j ≤ i
    (aligned to the end of the keys, so it also holds when the keys include a KV cache).

    The fast path hands the work to ``torch.nn.functional.scaled_dot_product_attention``
    (fused kernels, no (T_q, T_k) matrix kept); the explicit path computes the formula step
    by step and returns the attention weights (B, nh, T_q, T_k). Both give the same output.
    """
    if not need_weights:
        if is_causal and attn_bias is None and query.shape[-2] == key.shape[-2]:
            out = F.scaled_dot_product_attention(query, key, value, dropout_p=dropout_p, is_causal=True)
            return out, None
        if is_causal:
            attn_bias = _with_causal(attn_bias, query, key)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=attn_bias, dropout_p=dropout_p)
        return out, None

    d_k = query.shape[-1]
    scores = query @ key.transpose(-2, -1) / math.sqrt(d_k)  # (B, nh, T_q, T_k)
    if is_causal:
        attn_bias = _with_causal(attn_bias, query, key)
    if attn_bias is not None:
        scores = scores + attn_bias
    weights = torch.softmax(scores.float(), dim=-1).to(query.dtype)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ value, weights  # (B, nh, T_q, d_v)


def causal_mask(t_q: int, t_k: int, device: torch.device | None = None) -> Tensor:
    """Boolean (T_q, T_k): True where query i (the last T_q of T_k positions) may see key j."""
    offset = t_k - t_q
    rows = torch.arange(t_q, device=device).unsqueeze(1) + offset
    cols = torch.arange(t_k, device=device).unsqueeze(0)
    return cols <= rows


def _with_causal(attn_bias: Tensor | None, query: Tensor, key: Tensor) -> Tensor:
    allowed = causal_mask(query.shape[-2], key.shape[-2], device=query.device)
    causal = torch.zeros(allowed.shape, dtype=query.dtype, device=query.device)
    causal.masked_fill_(~allowed, torch.finfo(query.dtype).min)
    if attn_bias is None:
        return causal
    # Adding two "minus infinity" stand-ins would overflow to -inf; clamp keeps rows finite.
    return (attn_bias + causal).clamp_min(torch.finfo(query.dtype).min)


def make_attention_bias(attention_mask: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """Padding mask (B, T_k) of 1 = token, 0 = padding -> additive bias (B, 1, 1, T_k).

    Masked keys get the dtype's most negative number rather than -inf, so a query that sees
    only padding (a left-padded prompt's pad positions) gets uniform weights, not NaN.
    """
    if attention_mask is None:
        return None
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must be (batch, seq_len), got shape {tuple(attention_mask.shape)}")
    bias = torch.zeros(attention_mask.shape, dtype=dtype, device=attention_mask.device)
    bias.masked_fill_(attention_mask == 0, torch.finfo(dtype).min)
    return bias[:, None, None, :]


class KVCache:
    """Keys and values of past positions, preallocated once for the whole generation.

    Layout per layer: keys and values (B, nh, max_len, hs). Decoding one token then costs a
    copy of (B, nh, 1, hs) into the buffer instead of a concatenation of the whole history.
    Each layer advances its own length, so a forward pass through all layers appends the
    same number of positions everywhere.
    """

    def __init__(
        self,
        n_layers: int,
        batch_size: int,
        n_heads: int,
        head_size: int,
        max_len: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        shape = (batch_size, n_heads, max_len, head_size)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.lengths = [0] * n_layers
        self.max_len = max_len
        # What a model may keep for the length of one generation (its blocks' fused paths).
        self.model_state: dict[str, object] = {}

    def __len__(self) -> int:
        return self.lengths[0]

    @property
    def batch_size(self) -> int:
        return self.keys[0].shape[0]

    def update(self, layer: int, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """Append (B, nh, T, hs) to ``layer`` and return all keys and values so far."""
        start = self.lengths[layer]
        n = key.shape[-2]
        end = start + n
        if end > self.max_len:
            raise ValueError(f"KV cache holds {self.max_len} positions; {end} were asked for")
        keys, values = self.keys[layer], self.values[layer]
        # narrow + copy_ rather than slice assignment: fewer dispatches per decoded token.
        keys.narrow(2, start, n).copy_(key)
        values.narrow(2, start, n).copy_(value)
        self.lengths[layer] = end
        return keys.narrow(2, 0, end), values.narrow(2, 0, end)

    def reorder(self, batch_index: Tensor) -> None:
        """Keep rows ``batch_index`` (beam search: each beam continues its parent's cache)."""
        for i in range(len(self.keys)):
            self.keys[i] = self.keys[i].index_select(0, batch_index)
            self.values[i] = self.values[i].index_select(0, batch_index)

    def crop(self, length: int) -> None:
        """Forget every position from ``length`` on."""
        self.lengths = [min(n, length) for n in self.lengths]


class GrowingCacheAttention:
    """The attention of a block's fused inference path over a :class:`KVCache` that grows:
    each layer appends its new keys and values and attends to ``keys[:, :, :past + T]``.

    ``attn_bias`` (B, 1, 1, past + T) masks padding; a block that is causal passes ``causal``,
    which matters only for T > 1 (one new query may look at every cached key).
    """

    __slots__ = ("kv_cache", "attn_bias")

    def __init__(self, kv_cache: KVCache, attn_bias: Tensor | None) -> None:
        self.kv_cache = kv_cache
        self.attn_bias = attn_bias

    def __call__(self, layer: int, q: Tensor, k: Tensor, v: Tensor, causal: bool) -> Tensor:
        k, v = self.kv_cache.update(layer, k, v)  # q: (B, nh, T, hs); k, v: (B, nh, past + T, hs)
        causal = causal and q.shape[-2] > 1
        out, _ = scaled_dot_product_attention(q, k, v, self.attn_bias, is_causal=causal)
        return out


class StaticCacheAttention:
    """The attention of a block's fused inference path with every shape fixed, one new
    query per row, for ``torch.compile``: the cache is used whole, (B, nh, L, hs), and
    positions after the current one (or padding) are masked out::

        K[:, :, p] = k_new       V[:, :, p] = v_new       (p: a (1,) long tensor)
        out = softmax(q Kᵀ / √hs + mask) V,   mask[j] = 0 if ``allowed[j]`` else -inf

    which equals attending to the first p + 1 positions. ``keys``/``values``: one (B, nh, L,
    hs) tensor per layer, written in place; ``allowed``: (B, 1, 1, L) bool.
    """

    __slots__ = ("keys", "values", "allowed", "position")

    def __init__(self, keys: list[Tensor], values: list[Tensor], allowed: Tensor,
                 position: Tensor) -> None:
        self.keys, self.values, self.allowed, self.position = keys, values, allowed, position

    def __call__(self, layer: int, q: Tensor, k: Tensor, v: Tensor, causal: bool) -> Tensor:
        keys, values = self.keys[layer], self.values[layer]
        keys.index_copy_(2, self.position, k)
        values.index_copy_(2, self.position, v)
        # Written out rather than sdpa: the compiler fuses these small ops, while the CPU
        # flash kernel with a mask costs ~140 µs per layer for one query.
        scores = (q @ keys.transpose(-1, -2)).float() * q.shape[-1] ** -0.5  # (B, nh, 1, L)
        weights = scores.masked_fill(~self.allowed, float("-inf")).softmax(dim=-1).to(q.dtype)
        return weights @ values  # (B, nh, 1, hs)


CachedAttention = GrowingCacheAttention | StaticCacheAttention


class MultiHeadAttention(nn.Module):
    """Multi-head attention, self or cross, with an optional KV cache.

    Self-attention projects Q, K and V with one fused ``qkv_proj`` (d_model -> 3·d_model):
    one matrix multiply instead of three, which matters most when decoding a token at a
    time. Cross-attention projects the queries with ``q_proj`` and the encoder's output with
    a fused ``kv_proj``.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        *,
        bias: bool = True,
        dropout: float = 0.0,
        cross_attention: bool = False,
    ) -> None:
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.d_model = d_model
        self.n_heads = n_heads
        self.head_size = d_model // n_heads
        self.dropout = dropout
        self.cross_attention = cross_attention
        if cross_attention:
            self.q_proj = nn.Linear(d_model, d_model, bias=bias)
            self.kv_proj = nn.Linear(d_model, 2 * d_model, bias=bias)
        else:
            self.qkv_proj = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def _split_heads(self, x: Tensor) -> Tensor:
        batch, seq_len, _ = x.shape
        return x.view(batch, seq_len, self.n_heads, self.head_size).transpose(1, 2)  # (B, nh, T, hs)

    def fused(self) -> Callable[[Tensor, CachedAttention, int, bool], Tensor]:
        """Self-attention for inference as one function (x, attention, layer, causal) -> out,
        x and out (B, T, d_model), with the projections looked up once (``inference_linear``)::

            q, k, v = split_heads(x W_qkv)              (B, nh, T, hs) each
            out = attention(layer, q, k, v, causal) W_o

        ``attention`` is the cache variant (:class:`GrowingCacheAttention`,
        :class:`StaticCacheAttention`). Module calls and attribute lookups cost more than the
        small ops of a batch-1 decoding step, so a block builds this once per generation.
        """
        if self.cross_attention:
            raise ValueError("the fused inference path is for self-attention only")
        qkv_proj, out_proj = inference_linear(self.qkv_proj), inference_linear(self.out_proj)
        n_heads, head_size, d_model = self.n_heads, self.head_size, self.d_model

        def self_attention(x: Tensor, attention: CachedAttention, layer: int,
                           causal: bool) -> Tensor:
            batch, seq_len, _ = x.shape
            qkv = qkv_proj(x).view(batch, seq_len, 3, n_heads, head_size)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, nh, T, hs) each
            out = attention(layer, q, k, v, causal)
            return out_proj(out.transpose(1, 2).reshape(batch, seq_len, d_model))

        return self_attention

    def memory_keys_values(self, context: Tensor, kv_cache: KVCache | None = None,
                           layer_idx: int = 0) -> tuple[Tensor, Tensor]:
        """Cross-attention's keys and values K = M W^K, V = M W^V (B, nh, S, hs) from the
        encoder's memory M (B, S, d_model): projected on the first call, then read from
        ``kv_cache`` (the memory does not change while the decoder writes)."""
        if kv_cache is not None and kv_cache.lengths[layer_idx] > 0:
            end = kv_cache.lengths[layer_idx]
            return kv_cache.keys[layer_idx][:, :, :end], kv_cache.values[layer_idx][:, :, :end]
        k, v = self.kv_proj(context).split(self.d_model, dim=-1)
        k, v = self._split_heads(k), self._split_heads(v)
        if kv_cache is not None:
            k, v = kv_cache.update(layer_idx, k, v)
        return k, v

    def forward(
        self,
        x: Tensor,
        *,
        context: Tensor | None = None,
        attn_bias: Tensor | None = None,
        is_causal: bool = False,
        kv_cache: KVCache | None = None,
        layer_idx: int = 0,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """x: (B, T, d_model); context: (B, S, d_model) for cross-attention.

        Returns the output (B, T, d_model) and the weights (B, nh, T, T_k) or None.
        With a ``kv_cache``, self-attention appends this step's keys and values and attends
        over the whole history; cross-attention computes the encoder's keys and values once
        (the first call) and reuses them.
        """
        batch, seq_len, _ = x.shape
        if self.cross_attention:
            if context is None:
                raise ValueError("cross-attention needs the encoder output as `context`")
            q = self._split_heads(self.q_proj(x))  # queries from the decoder: (B, nh, T, hs)
            k, v = self.memory_keys_values(context, kv_cache, layer_idx)
        else:
            q, k, v = self.qkv_proj(x).split(self.d_model, dim=-1)
            q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
            if kv_cache is not None:
                k, v = kv_cache.update(layer_idx, k, v)

        # A single new query may look at every cached key: no causal mask needed.
        causal = is_causal and seq_len > 1
        out, weights = scaled_dot_product_attention(
            q,
            k,
            v,
            attn_bias,
            is_causal=causal,
            dropout_p=self.dropout if self.training else 0.0,
            need_weights=need_weights,
        )
        out = out.transpose(1, 2).reshape(batch, seq_len, self.d_model)  # (B, T, d_model)
        return self.out_proj(out), weights
