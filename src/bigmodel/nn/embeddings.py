"""Input embeddings: token vectors plus where each token stands.

    h_0 = E_tok[x] + E_pos[p] (+ E_seg[s])          (B, T) ids -> (B, T, d_model)

GPT and BERT learn E_pos as a table; BERT adds a segment table E_seg for sentence A/B and
normalizes the sum. The original Transformer scales E_tok by √d_model and adds fixed
sinusoids::

    PE(p, 2i)   = sin(p / 10000^(2i/d_model))
    PE(p, 2i+1) = cos(p / 10000^(2i/d_model))
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_positions(max_len: int, d_model: int) -> Tensor:
    """The (max_len, d_model) table PE above."""
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)  # (max_len, 1)
    inv_freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq[: d_model // 2])
    return table


class Embeddings(nn.Module):
    """Token + position (+ segment) embeddings, optional LayerNorm, dropout.

    ``positions="learned"`` keeps a trainable table; ``"sinusoidal"`` a fixed buffer and
    scales tokens by √d_model as in the original Transformer.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        max_len: int,
        *,
        positions: str = "learned",
        n_segments: int = 0,
        layer_norm: bool = False,
        layer_norm_eps: float = 1e-12,
        dropout: float = 0.0,
        padding_idx: int | None = None,
    ) -> None:
        super().__init__()
        if positions not in ("learned", "sinusoidal"):
            raise ValueError(f"positions must be 'learned' or 'sinusoidal', got {positions!r}")
        self.d_model = d_model
        self.max_len = max_len
        self.positions = positions
        self.token = nn.Embedding(vocab_size, d_model, padding_idx=padding_idx)
        if positions == "learned":
            self.position = nn.Embedding(max_len, d_model)
        else:
            self.register_buffer("position_table", sinusoidal_positions(max_len, d_model), persistent=False)
        self.segment = nn.Embedding(n_segments, d_model) if n_segments > 0 else None
        self.norm = nn.LayerNorm(d_model, eps=layer_norm_eps) if layer_norm else None
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        input_ids: Tensor,
        position_ids: Tensor | None = None,
        token_type_ids: Tensor | None = None,
    ) -> Tensor:
        """input_ids (B, T) -> (B, T, d_model). position_ids default to 0..T-1."""
        seq_len = input_ids.shape[1]
        if position_ids is None:
            position_ids = torch.arange(seq_len, device=input_ids.device).unsqueeze(0)
        if self.positions == "learned":
            h = self.token(input_ids) + self.position(position_ids)
        else:
            h = self.token(input_ids) * math.sqrt(self.d_model) + self.position_table[position_ids]
        if self.segment is not None:
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            h = h + self.segment(token_type_ids)
        if self.norm is not None:
            h = self.norm(h)
        return self.dropout(h)
