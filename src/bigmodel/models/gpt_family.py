"""The GPT family (gpt.py): its presets, GPT-2's Hugging Face layout, its planner shape.

No torch at import: the classes and GPTConfig are imported when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import BigModelError
from .families import (
    TOKENIZER,
    FamilyMap,
    Preset,
    id2label_from_hf,
    labels_to_hf,
    lazy_classes,
    register_family,
)
from .shapes import ModelShape, Stack, layer_params

if TYPE_CHECKING:
    from .base import ConfigBase

GPT_PRESETS: dict[str, dict[str, int]] = {
    "gpt2": dict(n_layers=12, d_model=768, n_heads=12),
    "gpt2-medium": dict(n_layers=24, d_model=1024, n_heads=16),
    "gpt2-large": dict(n_layers=36, d_model=1280, n_heads=20),
    "gpt2-xl": dict(n_layers=48, d_model=1600, n_heads=25),
}

_HUB_IDS = {name: f"openai-community/{name}" for name in GPT_PRESETS}

PRESETS = tuple(
    Preset(
        name,
        "gpt",
        "GPT2LMHeadModel",
        cfg,
        f"hub:{_HUB_IDS[name]}",
        "gpt2",
        f"OpenAI GPT-2 ({name}), weights from the Hugging Face cache",
    )
    for name, cfg in GPT_PRESETS.items()
) + (
    Preset(
        "tiny-gpt-en",
        "gpt",
        "GPT2LMHeadModel",
        weights="shipped:tiny-gpt-en",
        description="4-layer 128-wide GPT trained by configs/tiny-gpt-en.toml on the King James "
        "Bible (101 steps; validation loss 4.79)",
    ),
    Preset(
        "tiny-gpt-zh",
        "gpt",
        "GPT2LMHeadModel",
        weights="shipped:tiny-gpt-zh",
        description="4-layer 128-wide GPT trained by configs/tiny-gpt-zh.toml on Chinese product "
        "reviews (300 steps; validation loss 6.77)",
    ),
)

# GPTConfig's defaults the shape reads (d_ff None: 4·d_model).
CONFIG_DEFAULTS: dict[str, Any] = dict(
    vocab_size=50257,
    max_seq_len=1024,
    d_model=768,
    n_layers=12,
    n_heads=12,
    d_ff=None,
    bias=True,
    tie_embeddings=True,
    num_labels=2,
    dropout=0.1,
    attn_dropout=0.1,
)


def _config_to_hf(config: Any) -> dict[str, Any]:
    return {
        "model_type": "gpt2",
        "vocab_size": config.vocab_size,
        "n_positions": config.max_seq_len,
        "n_ctx": config.max_seq_len,
        "n_embd": config.d_model,
        "n_layer": config.n_layers,
        "n_head": config.n_heads,
        "n_inner": config.d_ff,
        "activation_function": config.activation,
        "resid_pdrop": config.dropout,
        "embd_pdrop": config.dropout,
        "attn_pdrop": config.attn_dropout,
        "layer_norm_epsilon": config.layer_norm_eps,
        "initializer_range": config.initializer_range,
        "bos_token_id": config.bos_token_id,
        "eos_token_id": config.eos_token_id,
        "pad_token_id": config.pad_token_id,
        "tie_word_embeddings": config.tie_embeddings,
    } | labels_to_hf(config)


def _config_from_hf(hf: dict[str, Any]) -> ConfigBase:
    from .gpt import GPTConfig

    for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
        if hf.get(flag):
            raise BigModelError(
                f"config.json sets {flag}=true, which bigmodel's GPT does not implement"
            )
    if hf.get("scale_attn_weights") is False:
        raise BigModelError(
            "config.json sets scale_attn_weights=false, which bigmodel's GPT does not implement"
        )
    d_model = hf["n_embd"]
    labels = id2label_from_hf(hf)
    return GPTConfig(
        vocab_size=hf["vocab_size"],
        max_seq_len=hf["n_positions"],
        d_model=d_model,
        n_layers=hf["n_layer"],
        n_heads=hf["n_head"],
        d_ff=hf.get("n_inner") or 4 * d_model,
        activation=hf.get("activation_function", "gelu_new"),
        dropout=hf.get("resid_pdrop", 0.1),
        attn_dropout=hf.get("attn_pdrop", 0.1),
        layer_norm_eps=hf.get("layer_norm_epsilon", 1e-5),
        initializer_range=hf.get("initializer_range", 0.02),
        bos_token_id=hf.get("bos_token_id"),
        eos_token_id=hf.get("eos_token_id"),
        pad_token_id=hf.get("pad_token_id"),
        tie_embeddings=hf.get("tie_word_embeddings", True),
        id2label=labels,
        num_labels=len(labels or {}) or hf.get("num_labels", 2),
    )


def gpt_shape(name: str, architecture: str, c: Any) -> ModelShape:
    """Token + learned position tables, L pre-LN causal layers, a final LayerNorm; the LM
    head is tied to the token table unless ``tie_embeddings`` is off."""
    d, V = c.d_model, c.vocab_size
    stack = Stack(c.n_layers, d, c.n_heads, c.d_ff or 4 * d, causal=True, bias=c.bias)
    embedding = V * d + c.max_seq_len * d
    backbone = embedding + c.n_layers * layer_params(stack) + 2 * d  # + final LayerNorm
    if architecture == "GPT2LMHeadModel":
        head = 0 if c.tie_embeddings else V * d
        output_layer = V * d
    elif architecture == "GPT2ForSequenceClassification":
        head, output_layer = d * c.num_labels, d * c.num_labels  # score: no bias, as in HF
    else:
        head, output_layer = 0, 0
    return ModelShape(
        name,
        "gpt",
        architecture,
        c,
        [stack],
        V,
        c.max_seq_len,
        c.attn_dropout,
        c.dropout,
        backbone,
        head,
        embedding,
        output_layer,
        fused_loss=True,
        trains_head_with_lora=architecture == "GPT2ForSequenceClassification",
    )


GPT2_MAP = register_family(
    FamilyMap(
        family="gpt",
        hf_model_type="gpt2",
        body_prefix="transformer.",
        body_rules=(
            ("wte", "embeddings.token"),
            ("wpe", "embeddings.position"),
            ("h.{i}.ln_1", "blocks.{i}.self_attn_norm"),
            ("h.{i}.attn.c_attn", "blocks.{i}.self_attn.qkv_proj"),
            ("h.{i}.attn.c_proj", "blocks.{i}.self_attn.out_proj"),
            ("h.{i}.ln_2", "blocks.{i}.ffn_norm"),
            ("h.{i}.mlp.c_fc", "blocks.{i}.ffn.fc_in"),
            ("h.{i}.mlp.c_proj", "blocks.{i}.ffn.fc_out"),
            ("ln_f", "final_norm"),
        ),
        head_rules=(
            ("lm_head", "lm_head"),
            ("score", "score"),
        ),
        architectures=lazy_classes(
            "gpt",
            {
                "GPT2LMHeadModel": "GPT",
                "GPT2Model": "GPTModel",
                "GPT2ForSequenceClassification": "GPTForSequenceClassification",
            },
        ),
        config_to_hf=_config_to_hf,
        config_from_hf=_config_from_hf,
        # Conv1D keeps its weight as (in_features, out_features): transpose to nn.Linear's.
        transposed=(
            "attn.c_attn.weight",
            "attn.c_proj.weight",
            "mlp.c_fc.weight",
            "mlp.c_proj.weight",
        ),
        ignored=(r"(^|\.)h\.\d+\.attn\.(bias|masked_bias)$",),
        tied=("lm_head.weight",),
        presets=PRESETS,
        shape=gpt_shape,
        config_defaults=CONFIG_DEFAULTS,
        causal=True,
        sequence_classifier="GPT2ForSequenceClassification",
        companion=TOKENIZER,
    )
)
