"""What the search loops drive: a model wrapped to answer "next-token logits, please".

A runner owns the KV cache and the masks, so that greedy, sampling and beam search are
written once for both kinds of model:

- :class:`CausalLMRunner` for a decoder-only LM (GPT): the prompt is the sequence so far;
  left-padded rows get position ids that start at 0 at their first real token.
- :class:`Seq2SeqRunner` for an encoder-decoder (the Transformer): the source is encoded
  once; the decoder starts from its start token and attends to the memory through a
  cross-attention cache that is filled on the first step.

Both return next-token logits (N, V) in float32 and can reorder their caches (beam search).
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor

from ..nn.attention import KVCache


class Runner(Protocol):
    def prefill(self) -> Tensor: ...

    def step(self, tokens: Tensor) -> Tensor: ...

    def reorder(self, index: Tensor) -> None: ...


def is_encoder_decoder(model: Any) -> bool:
    return callable(getattr(model, "encode", None)) and callable(getattr(model, "decode", None))


def left_padded_positions(attention_mask: Tensor) -> Tensor:
    """Position ids (N, T) counting real tokens from 0; pads get 1 (they are never attended)."""
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 1)


class CausalLMRunner:
    """Decoder-only LM with a preallocated KV cache of ``prompt + max_new_tokens`` positions.

    Without padding, no mask is built at all: a single new query may attend to every cached
    key, which lets attention take its fastest path. With padding, the (N, max_len) mask is
    allocated once and each step only slices it.
    """

    def __init__(self, model: Any, input_ids: Tensor, attention_mask: Tensor | None, max_new_tokens: int) -> None:
        self.model = model
        self.input_ids = input_ids
        n, t = input_ids.shape
        self.max_len = t + max_new_tokens
        self.cache: KVCache = model.new_kv_cache(n, self.max_len)
        self.length = 0
        self.mask: Tensor | None = None
        self.positions: Tensor | None = None
        if attention_mask is not None and not bool(attention_mask.all()):
            self.mask = torch.ones(n, self.max_len, dtype=torch.long, device=input_ids.device)
            self.mask[:, :t] = attention_mask
            self.positions = left_padded_positions(attention_mask)

    def _logits(self, ids: Tensor, positions: Tensor | None) -> Tensor:
        mask = None
        if self.mask is not None:
            mask = self.mask[:, : self.length + ids.shape[1]]
        out = self.model(ids, mask, positions, kv_cache=self.cache, logits_to_keep=1)
        self.length += ids.shape[1]
        return out.logits[:, -1].float()

    def prefill(self) -> Tensor:
        return self._logits(self.input_ids, self.positions)

    def step(self, tokens: Tensor) -> Tensor:
        positions = None
        if self.positions is not None:
            positions = self.positions[:, -1:] + 1
            self.positions = positions
        return self._logits(tokens[:, None], positions)

    def reorder(self, index: Tensor) -> None:
        self.cache.reorder(index)
        if self.mask is not None:
            self.mask = self.mask.index_select(0, index)
            self.positions = self.positions.index_select(0, index)


class Seq2SeqRunner:
    """Encoder-decoder: ``encode(src, src_mask)`` once, then ``decode`` one target token a step.

    The decoder's first input is its start token (the config's ``decoder_start_token_id``
    or ``bos_token_id``); the returned sequences begin with it, as in transformers.
    """

    def __init__(self, model: Any, src_ids: Tensor, src_mask: Tensor | None, max_new_tokens: int,
                 start_token_id: int) -> None:
        self.model = model
        n = src_ids.shape[0]
        self.src_mask = src_mask
        self.memory = model.encode(src_ids, src_mask)  # (N, S, d)
        self.cache: KVCache = model.new_kv_cache(n, max_new_tokens + 1)
        if callable(getattr(model, "new_cross_cache", None)):
            self.cross_cache: KVCache = model.new_cross_cache(n, self.memory.shape[1])
        else:
            self.cross_cache = model.new_kv_cache(n, self.memory.shape[1])
        self.start = torch.full((n, 1), start_token_id, dtype=torch.long, device=src_ids.device)

    def _logits(self, ids: Tensor) -> Tensor:
        out = self.model.decode(ids, self.memory, self.src_mask, kv_cache=self.cache,
                                cross_cache=self.cross_cache)
        return out.logits[:, -1].float()

    def prefill(self) -> Tensor:
        return self._logits(self.start)

    def step(self, tokens: Tensor) -> Tensor:
        return self._logits(tokens[:, None])

    def reorder(self, index: Tensor) -> None:
        self.cache.reorder(index)
        self.cross_cache.reorder(index)
        self.memory = self.memory.index_select(0, index)
        if self.src_mask is not None:
            self.src_mask = self.src_mask.index_select(0, index)


__all__ = ["CausalLMRunner", "Runner", "Seq2SeqRunner", "is_encoder_decoder", "left_padded_positions"]
