"""The Transformer family (transformer.py): its checkpoint layout and its planner shape.

No Hugging Face class holds Vaswani et al.'s model, so its checkpoints keep bigmodel's own
names (model_type "bigmodel-transformer"): every rule maps a top-level module to itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .families import TOKENIZER, FamilyMap, lazy_classes, register_family
from .shapes import ModelShape, Stack, layer_params

if TYPE_CHECKING:
    from .base import ConfigBase


def _config_to_hf(config: Any) -> dict[str, Any]:
    return {"model_type": "bigmodel-transformer"} | {
        k: v for k, v in config.to_dict().items() if k != "extra"
    }


def _config_from_hf(hf: dict[str, Any]) -> ConfigBase:
    from .transformer import TransformerConfig

    names = TransformerConfig.field_names()
    return TransformerConfig.from_dict({k: v for k, v in hf.items() if k in names})


def transformer_shape(name: str, architecture: str, c: Any) -> ModelShape:
    """The Vaswani encoder-decoder: sinusoidal positions (no parameters), shared tables."""
    d, V = c.d_model, c.vocab_size
    V_tgt = c.tgt_vocab_size or V
    enc = Stack(c.n_encoder_layers, d, c.n_heads, c.d_ff, causal=False, pre_ln=c.norm_first)
    dec = Stack(
        c.n_decoder_layers,
        d,
        c.n_heads,
        c.d_ff,
        causal=True,
        cross_attention=True,
        pre_ln=c.norm_first,
    )
    embedding = V * d + (0 if c.share_embeddings else V_tgt * d)
    final_norms = 2 * 2 * d if c.final_norm else 0
    backbone = (
        embedding
        + c.n_encoder_layers * layer_params(enc)
        + c.n_decoder_layers * layer_params(dec)
        + final_norms
    )
    head = 0 if c.tie_output else V_tgt * d
    return ModelShape(
        name,
        "transformer",
        architecture,
        c,
        [enc, dec],
        V_tgt,
        c.max_seq_len,
        c.attn_dropout,
        c.dropout,
        backbone,
        head,
        embedding,
        V_tgt * d,
    )


TRANSFORMER_MAP = register_family(
    FamilyMap(
        family="transformer",
        hf_model_type="bigmodel-transformer",
        body_prefix="",
        body_rules=(("encoder", "encoder"), ("decoder", "decoder"), ("lm_head", "lm_head")),
        head_rules=(),
        architectures=lazy_classes("transformer", {"BigmodelTransformer": "Transformer"}),
        config_to_hf=_config_to_hf,
        config_from_hf=_config_from_hf,
        # With share_embeddings the decoder reads the encoder's token table.
        tied=("decoder.embeddings.token.weight",),
        shape=transformer_shape,
        companion=TOKENIZER,
    )
)
