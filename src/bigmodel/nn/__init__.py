"""The Transformer's parts, shared by every family."""

from .attention import (
    KVCache,
    MultiHeadAttention,
    make_attention_bias,
    scaled_dot_product_attention,
)
from .block import TransformerBlock
from .embeddings import Embeddings, sinusoidal_positions
from .feedforward import FeedForward

__all__ = [
    "Embeddings",
    "FeedForward",
    "KVCache",
    "MultiHeadAttention",
    "TransformerBlock",
    "make_attention_bias",
    "scaled_dot_product_attention",
    "sinusoidal_positions",
]
