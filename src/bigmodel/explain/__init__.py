"""Look inside a model: attention maps, integrated gradients, the logit lens."""

from __future__ import annotations

from .attention import AttentionMaps, attention_maps, rollout, save_attention
from .attribution import Attribution, integrated_gradients, save_attribution
from .lens import LogitLens, lens_logits, logit_lens, save_logit_lens

__all__ = [
    "AttentionMaps",
    "Attribution",
    "LogitLens",
    "attention_maps",
    "integrated_gradients",
    "lens_logits",
    "logit_lens",
    "rollout",
    "save_attention",
    "save_attribution",
    "save_logit_lens",
]
