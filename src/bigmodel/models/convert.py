"""Hugging Face <-> bigmodel: one declarative weight table and one config table per family.

A rule maps an HF module path to ours; ``{i}`` stands for a layer number. It applies to
every tensor under that path (``.weight``, ``.bias``, ``.running_mean`` ...). A rule whose
HF side is a tuple concatenates those tensors along dim 0 into our one tensor (BERT's
separate query/key/value into our fused ``qkv_proj``) and splits it back on save.
``transposed`` lists the HF tensors stored as (in, out): GPT-2's Conv1D layers.

HF head models put the body under a prefix (``transformer.`` for GPT2LMHeadModel, ``bert.``
for BertForMaskedLM); ours mirror that with the same attribute names, so a body rule serves
both and the prefix is swapped as a whole.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..errors import BigModelError
from .base import BigModel, ConfigBase

logger = logging.getLogger(__name__)

Rule = tuple[str | tuple[str, ...], str]


@dataclass(frozen=True)
class FamilyMap:
    """Everything needed to move one family's checkpoints in and out of HF layout."""

    family: str
    hf_model_type: str
    body_prefix: str  # HF and ours, in head models ("transformer.", "bert.", "resnet.")
    body_rules: tuple[Rule, ...]
    head_rules: tuple[Rule, ...]
    # architecture name -> bigmodel class (import path resolved lazily to avoid cycles)
    architectures: dict[str, Callable[[], type[BigModel]]]
    config_to_hf: Callable[[ConfigBase], dict[str, Any]]
    config_from_hf: Callable[[dict[str, Any]], ConfigBase]
    transposed: tuple[str, ...] = ()  # HF key suffixes stored transposed
    ignored: tuple[str, ...] = ()  # regexes of HF keys that carry no weights (buffers)
    tied: tuple[str, ...] = ()  # our keys that share storage with another parameter
    renames: tuple[tuple[str, str], ...] = field(default=())  # legacy HF suffix renames


# --------------------------------------------------------------------------- GPT-2


def _gpt_config_to_hf(config: Any) -> dict[str, Any]:
    out = {
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
    }
    if config.id2label is not None:
        out["id2label"] = {str(k): v for k, v in config.id2label.items()}
        out["label2id"] = {v: int(k) for k, v in config.id2label.items()}
    return out


def _gpt_config_from_hf(hf: dict[str, Any]) -> ConfigBase:
    from .gpt import GPTConfig

    for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
        if hf.get(flag):
            raise BigModelError(f"config.json sets {flag}=true, which bigmodel's GPT does not implement")
    if hf.get("scale_attn_weights") is False:
        raise BigModelError("config.json sets scale_attn_weights=false, which bigmodel's GPT does not implement")
    d_model = hf["n_embd"]
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
        id2label=_id2label(hf),
        num_labels=len(_id2label(hf) or {}) or hf.get("num_labels", 2),
    )


def _id2label(hf: dict[str, Any]) -> dict[int, str] | None:
    labels = hf.get("id2label")
    if not labels:
        return None
    return {int(k): str(v) for k, v in labels.items()}


def _gpt_classes() -> dict[str, Callable[[], type[BigModel]]]:
    def lazy(name: str) -> Callable[[], type[BigModel]]:
        def get() -> type[BigModel]:
            from . import gpt

            return getattr(gpt, name)

        return get

    return {
        "GPT2LMHeadModel": lazy("GPT"),
        "GPT2Model": lazy("GPTModel"),
        "GPT2ForSequenceClassification": lazy("GPTForSequenceClassification"),
    }


GPT2_MAP = FamilyMap(
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
    architectures=_gpt_classes(),
    config_to_hf=_gpt_config_to_hf,
    config_from_hf=_gpt_config_from_hf,
    # Conv1D keeps its weight as (in_features, out_features): transpose to nn.Linear's.
    transposed=("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"),
    ignored=(r"(^|\.)h\.\d+\.attn\.(bias|masked_bias)$",),
    tied=("lm_head.weight",),
)


# --------------------------------------------------------------------------- BERT


def _bert_config_to_hf(config: Any) -> dict[str, Any]:
    out = {
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
    }
    if config.id2label is not None:
        out["id2label"] = {str(k): v for k, v in config.id2label.items()}
        out["label2id"] = {v: int(k) for k, v in config.id2label.items()}
    return out


def _bert_config_from_hf(hf: dict[str, Any]) -> ConfigBase:
    from .bert import BertConfig

    position_type = hf.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise BigModelError(
            f"config.json sets position_embedding_type={position_type!r}; bigmodel's BERT supports 'absolute'"
        )
    if hf.get("is_decoder") or hf.get("add_cross_attention"):
        raise BigModelError("config.json describes a BERT decoder; bigmodel's BERT is an encoder")
    labels = _id2label(hf)
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
    )


def _bert_classes() -> dict[str, Callable[[], type[BigModel]]]:
    def lazy(name: str) -> Callable[[], type[BigModel]]:
        def get() -> type[BigModel]:
            from . import bert

            return getattr(bert, name)

        return get

    return {
        name: lazy(name)
        for name in ("BertModel", "BertForPreTraining", "BertForMaskedLM", "BertForSequenceClassification",
                     "BertForQuestionAnswering", "BertForTokenClassification")
    }


BERT_MAP = FamilyMap(
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
    architectures=_bert_classes(),
    config_to_hf=_bert_config_to_hf,
    config_from_hf=_bert_config_from_hf,
    ignored=(r"(^|\.)embeddings\.position_ids$",),
    tied=("mlm_head.decoder.weight",),
    # Old TF-converted checkpoints; and the MLM output bias saved under two names.
    renames=((".gamma", ".weight"), (".beta", ".bias"), ("cls.predictions.bias", "cls.predictions.decoder.bias")),
)


FAMILY_MAPS: dict[str, FamilyMap] = {"gpt2": GPT2_MAP, "bert": BERT_MAP}


def register_family(model_type: str, family_map: FamilyMap) -> None:
    """Add a family (ResNet, the Transformer) to the tables hub.py consults."""
    FAMILY_MAPS[model_type] = family_map


def family_for_model_type(model_type: str) -> FamilyMap:
    if model_type not in FAMILY_MAPS:
        raise BigModelError(
            f"config.json has model_type {model_type!r}; bigmodel reads {', '.join(sorted(FAMILY_MAPS))}"
        )
    return FAMILY_MAPS[model_type]


def family_for_model(model: BigModel) -> FamilyMap:
    for family_map in FAMILY_MAPS.values():
        if family_map.family == model.family:
            return family_map
    raise BigModelError(f"no Hugging Face weight map for family {model.family!r}")


# --------------------------------------------------------------------------- the mechanism


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(template).replace(r"\{i\}", r"(?P<i>\d+)") + r"(?P<suffix>\..+)$")


@dataclass
class _CompiledRule:
    hf: tuple[str, ...]
    ours: str
    hf_patterns: tuple[re.Pattern[str], ...]
    our_pattern: re.Pattern[str]


def _compile(rules: tuple[Rule, ...]) -> list[_CompiledRule]:
    compiled = []
    for hf, ours in rules:
        hf_names = hf if isinstance(hf, tuple) else (hf,)
        compiled.append(
            _CompiledRule(hf_names, ours, tuple(_pattern(h) for h in hf_names), _pattern(ours))
        )
    return compiled


def _has_body_prefix(model: BigModel, family_map: FamilyMap) -> bool:
    attribute = family_map.body_prefix.rstrip(".")
    return isinstance(getattr(model, attribute, None), torch.nn.Module)


def _fill(template: str, layer: str | None) -> str:
    return template.replace("{i}", layer) if layer is not None else template


def from_hf_state_dict(
    model: BigModel,
    hf_state: dict[str, Tensor],
    family_map: FamilyMap,
    *,
    source_architecture: str | None = None,
    source: str = "checkpoint",
) -> None:
    """Copy an HF state dict into ``model``; one clear error if anything does not fit.

    Loading a different architecture of the same family (a BertForPreTraining checkpoint
    into BertForSequenceClassification, say) is allowed like in transformers: head weights
    the checkpoint lacks keep their fresh initialization, and are named in a log message;
    head weights the model lacks are dropped. Body weights must all be there.
    """
    # Bring every HF key to "body key without prefix" or "head key".
    prefix = family_map.body_prefix
    ignored = [re.compile(p) for p in family_map.ignored]
    body_rules = _compile(family_map.body_rules)
    head_rules = _compile(family_map.head_rules)
    ours: dict[str, Tensor] = {}
    parts: dict[str, dict[int, Tensor]] = {}
    unexpected: list[str] = []
    for raw_key, tensor in hf_state.items():
        key = raw_key
        for old, new in family_map.renames:
            if key.endswith(old) or key.startswith(old):
                key = key[: -len(old)] + new if key.endswith(old) else new + key[len(old):]
        if any(p.search(key) for p in ignored):
            continue
        is_body = key.startswith(prefix)
        bare = key[len(prefix):] if is_body else key
        matched = False
        for rule in body_rules + head_rules:
            for part_index, pattern in enumerate(rule.hf_patterns):
                m = pattern.match(bare)
                if not m:
                    continue
                layer = m.groupdict().get("i")
                our_key = _fill(rule.ours, layer) + m.group("suffix")
                value = tensor
                if any(bare.endswith(t) for t in family_map.transposed):
                    value = value.t()
                if rule in body_rules:
                    our_key = ("BODY:" + our_key)
                if len(rule.hf) > 1:
                    parts.setdefault(our_key, {})[part_index] = value
                else:
                    ours[our_key] = value
                matched = True
                break
            if matched:
                break
        if not matched:
            unexpected.append(raw_key)
    for our_key, pieces in parts.items():
        ours[our_key] = torch.cat([pieces[i] for i in sorted(pieces)], dim=0)

    body_prefix = prefix if _has_body_prefix(model, family_map) else ""
    state = {
        (body_prefix + k[5:] if k.startswith("BODY:") else k): v for k, v in ours.items()
    }
    expected = model.state_dict()
    tied = set(family_map.tied)
    # The heads are whatever is not under the body prefix (or everything when no prefix).
    head_keys = {k for k in expected if body_prefix and not k.startswith(body_prefix)}
    same_architecture = source_architecture in (None, model.architecture)

    missing = [k for k in expected if k not in state and k not in tied]
    extra = [k for k in state if k not in expected]
    missing_heads = [k for k in missing if k in head_keys]
    extra_heads = [k for k in extra if not k.startswith(body_prefix) or not body_prefix]
    if not same_architecture:
        missing = [k for k in missing if k not in head_keys]
        extra = [k for k in extra if k not in extra_heads]
        # A pooler is part of the body in HF but absent from BertForMaskedLM: allow both ways.
        missing = [k for k in missing if ".pooler." not in f".{k}"]
        extra = [k for k in extra if ".pooler." not in f".{k}"]
    problems = []
    if missing:
        problems.append(_name_keys("missing", missing))
    if unexpected or extra:
        problems.append(_name_keys("unexpected", unexpected + extra))
    mis_shaped = [
        f"{k} {tuple(v.shape)} where the model expects {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if mis_shaped:
        problems.append(_name_keys("mis-shaped", mis_shaped))
    if problems:
        raise BigModelError(f"{source} does not fit {model.architecture}: " + "; ".join(problems))
    if not same_architecture:
        new = [k for k in missing_heads if k not in tied]
        if new:
            logger.warning(
                "%s was saved as %s: newly initialized %s", source, source_architecture, ", ".join(new)
            )
    state = {k: v for k, v in state.items() if k in expected}
    with torch.no_grad():
        model.load_state_dict(state, strict=False)


def to_hf_state_dict(model: BigModel, family_map: FamilyMap) -> dict[str, Tensor]:
    """The model's weights under Hugging Face names (contiguous, tied copies left out)."""
    body_prefix = family_map.body_prefix if _has_body_prefix(model, family_map) else ""
    body_rules = _compile(family_map.body_rules)
    head_rules = _compile(family_map.head_rules)
    tied = set(family_map.tied)
    out: dict[str, Tensor] = {}
    for key, tensor in model.state_dict().items():
        if key in tied and _is_tied(model, key):
            continue
        if key.endswith("position_table"):
            continue
        in_body = (not body_prefix) or key.startswith(body_prefix)
        bare = key[len(body_prefix):] if body_prefix and in_body else key
        rules = body_rules if in_body else head_rules
        for rule in rules:
            m = rule.our_pattern.match(bare)
            if not m:
                continue
            layer = m.groupdict().get("i")
            suffix = m.group("suffix")
            hf_prefix = body_prefix if in_body else ""
            pieces = tensor.chunk(len(rule.hf), dim=0) if len(rule.hf) > 1 else (tensor,)
            for hf_template, piece in zip(rule.hf, pieces, strict=True):
                hf_key = _fill(hf_template, layer) + suffix
                if any(hf_key.endswith(t) for t in family_map.transposed):
                    piece = piece.t()
                out[hf_prefix + hf_key] = piece.contiguous()
            break
        else:
            raise BigModelError(f"no Hugging Face name for weight {key!r} of {model.architecture}")
    if family_map.family == "bert" and "cls.predictions.decoder.bias" in out:
        # transformers names the MLM output bias cls.predictions.bias (decoder.bias is tied).
        out["cls.predictions.bias"] = out.pop("cls.predictions.decoder.bias")
    return out


def _is_tied(model: BigModel, key: str) -> bool:
    params = dict(model.named_parameters(remove_duplicate=False))
    target = params.get(key)
    if target is None:
        return False
    return any(p is target for k, p in params.items() if k != key)


def _name_keys(what: str, keys: list[str], shown: int = 4) -> str:
    head = ", ".join(keys[:shown])
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return f"{len(keys)} {what} ({head}{more})"


# --------------------------------------------------------------------------- the Transformer
# No Hugging Face class holds Vaswani et al.'s model, so its checkpoints keep bigmodel's own
# names (model_type "bigmodel-transformer"): every rule maps a top-level module to itself.


def _transformer_config_to_hf(config: Any) -> dict[str, Any]:
    return {"model_type": "bigmodel-transformer"} | {k: v for k, v in config.to_dict().items() if k != "extra"}


def _transformer_config_from_hf(hf: dict[str, Any]) -> ConfigBase:
    from .transformer import TransformerConfig

    names = TransformerConfig.field_names()
    return TransformerConfig.from_dict({k: v for k, v in hf.items() if k in names})


def _transformer_classes() -> dict[str, Callable[[], type[BigModel]]]:
    def get() -> type[BigModel]:
        from .transformer import Transformer

        return Transformer

    return {"BigmodelTransformer": get}


TRANSFORMER_MAP = FamilyMap(
    family="transformer",
    hf_model_type="bigmodel-transformer",
    body_prefix="",
    body_rules=(("encoder", "encoder"), ("decoder", "decoder"), ("lm_head", "lm_head")),
    head_rules=(),
    architectures=_transformer_classes(),
    config_to_hf=_transformer_config_to_hf,
    config_from_hf=_transformer_config_from_hf,
    # With share_embeddings the decoder reads the encoder's token table.
    tied=("decoder.embeddings.token.weight",),
)
FAMILY_MAPS["bigmodel-transformer"] = TRANSFORMER_MAP


# --------------------------------------------------------------------------- ResNet
# transformers' ResNetForImageClassification: resnet.embedder.embedder.{convolution,
# normalization}, resnet.encoder.stages.S.layers.B.{layer.K, shortcut}.{convolution,
# normalization}, classifier.1 (a Linear inside Sequential(Flatten, Linear)). Ours:
# resnet.stem.{conv,bn}, resnet.stages.S.B.{convK,bnK, shortcut.conv, shortcut.bn},
# classifier. A rule holds one {i}, so the stage number is written out, one rule set per
# stage. torchvision's names (conv1, bn1, layerN.B.convK, layerN.B.downsample.{0,1}, fc)
# come after HF's: they are read on load, and saving always writes HF's names.


def _resnet_body_rules() -> tuple[Rule, ...]:
    from .resnet import MAX_STAGES

    hf: list[Rule] = [("embedder.embedder.convolution", "stem.conv"),
                      ("embedder.embedder.normalization", "stem.bn")]
    torchvision: list[Rule] = [("conv1", "stem.conv"), ("bn1", "stem.bn")]
    for s in range(MAX_STAGES):
        hf_block, tv_block, block = f"encoder.stages.{s}.layers.{{i}}", f"layer{s + 1}.{{i}}", f"stages.{s}.{{i}}"
        for k in range(3):
            hf.append((f"{hf_block}.layer.{k}.convolution", f"{block}.conv{k + 1}"))
            hf.append((f"{hf_block}.layer.{k}.normalization", f"{block}.bn{k + 1}"))
            torchvision.append((f"{tv_block}.conv{k + 1}", f"{block}.conv{k + 1}"))
            torchvision.append((f"{tv_block}.bn{k + 1}", f"{block}.bn{k + 1}"))
        hf.append((f"{hf_block}.shortcut.convolution", f"{block}.shortcut.conv"))
        hf.append((f"{hf_block}.shortcut.normalization", f"{block}.shortcut.bn"))
        torchvision.append((f"{tv_block}.downsample.0", f"{block}.shortcut.conv"))
        torchvision.append((f"{tv_block}.downsample.1", f"{block}.shortcut.bn"))
    return tuple(hf + torchvision)


def _resnet_config_to_hf(config: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model_type": "resnet",
        "num_channels": config.num_channels,
        "embedding_size": config.embedding_size,
        "hidden_sizes": list(config.hidden_sizes),
        "depths": list(config.depths),
        "layer_type": config.block,
        "hidden_act": "relu",
        "downsample_in_first_stage": config.downsample_in_first_stage,
        "downsample_in_bottleneck": config.downsample_in_bottleneck,
        "num_labels": config.num_labels,
    }
    if config.stem != "imagenet":
        # transformers has no such stem: its 7×7 embedder will refuse these 3×3 weights.
        out["stem"] = config.stem
    if config.id2label is not None:
        out["id2label"] = {str(k): v for k, v in config.id2label.items()}
        out["label2id"] = {v: int(k) for k, v in config.id2label.items()}
    return out


def _resnet_config_from_hf(hf: dict[str, Any]) -> ConfigBase:
    from .resnet import ResNetConfig

    act = hf.get("hidden_act", "relu")
    if act != "relu":
        raise BigModelError(f"config.json sets hidden_act={act!r}; bigmodel's ResNet uses 'relu'")
    labels = _id2label(hf)
    ours = (hf.get("bigmodel") or {}).get("config") or {}
    return ResNetConfig(
        num_channels=hf.get("num_channels", 3),
        embedding_size=hf.get("embedding_size", 64),
        hidden_sizes=tuple(hf.get("hidden_sizes", (256, 512, 1024, 2048))),
        depths=tuple(hf.get("depths", (3, 4, 6, 3))),
        block=hf.get("layer_type", "bottleneck"),
        stem=hf.get("stem", "imagenet"),
        downsample_in_first_stage=bool(hf.get("downsample_in_first_stage", False)),
        downsample_in_bottleneck=bool(hf.get("downsample_in_bottleneck", False)),
        id2label=labels,
        num_labels=len(labels) if labels else hf.get("num_labels", 2),
        classifier_dropout=ours.get("classifier_dropout", 0.0),
        zero_init_residual=ours.get("zero_init_residual", False),
    )


def _resnet_classes() -> dict[str, Callable[[], type[BigModel]]]:
    def lazy(name: str) -> Callable[[], type[BigModel]]:
        def get() -> type[BigModel]:
            from . import resnet

            return getattr(resnet, name)

        return get

    return {name: lazy(name) for name in ("ResNetForImageClassification", "ResNetModel")}


RESNET_MAP = FamilyMap(
    family="resnet",
    hf_model_type="resnet",
    body_prefix="resnet.",
    body_rules=_resnet_body_rules(),
    head_rules=(("classifier.1", "classifier"), ("fc", "classifier")),
    architectures=_resnet_classes(),
    config_to_hf=_resnet_config_to_hf,
    config_from_hf=_resnet_config_from_hf,
)
FAMILY_MAPS["resnet"] = RESNET_MAP


# --------------------------------------------------------------------------- the detector
# bigmodel's own CenterNet-style detector (models/detection.py) is no transformers class:
# like the Transformer, it keeps its own names under model_type "bigmodel-detector".


def _detector_config_to_hf(config: Any) -> dict[str, Any]:
    out = {"model_type": "bigmodel-detector"} | {k: v for k, v in config.to_dict().items() if k != "extra"}
    if config.id2label is not None:
        out["id2label"] = {str(k): v for k, v in config.id2label.items()}
        out["label2id"] = {v: int(k) for k, v in config.id2label.items()}
    return out


def _detector_config_from_hf(hf: dict[str, Any]) -> ConfigBase:
    from .detection import DetectorConfig

    names = DetectorConfig.field_names()
    return DetectorConfig.from_dict({k: v for k, v in hf.items() if k in names})


def _detector_classes() -> dict[str, Callable[[], type[BigModel]]]:
    def get() -> type[BigModel]:
        from .detection import ResNetDetector

        return ResNetDetector

    return {"BigModelDetector": get}


DETECTOR_MAP = FamilyMap(
    family="detection",
    hf_model_type="bigmodel-detector",
    body_prefix="",
    body_rules=tuple((name, name) for name in ("backbone", "neck", "heatmap_head", "size_head", "offset_head")),
    head_rules=(),
    architectures=_detector_classes(),
    config_to_hf=_detector_config_to_hf,
    config_from_hf=_detector_config_from_hf,
)
FAMILY_MAPS["bigmodel-detector"] = DETECTOR_MAP
