"""Plan before you run: parameters, FLOPs, memory and time of a model, from its config only.

No weights are read and no model is built: every number follows from config fields by the
formulas below, so a 1.5B-parameter model plans as fast as a tiny one. Notation: L layers,
d = d_model, f = d_ff, h heads, V vocabulary, P positions, B batch, T sequence length,
b bytes per element of the chosen dtype.

Parameters of one Transformer layer (LayerNorm = 2d, Linear(n, m) = n·m + m)::

    self-attention  4d² + 4d       (fused qkv 3d² + 3d, output d² + d)
    feed-forward    2df + f + d
    LayerNorms      2 · 2d         (3 · 2d in a decoder layer with cross-attention)

FLOPs per token (Kaplan et al. 2020): a matrix multiply costs 2 FLOPs per weight, so the
forward pass costs 2·N_mm, N_mm = weights used in matrix multiplies (4d² + 2df per layer, plus
the output layer V·d of a language model), plus the attention scores and their weighted sum,
2·T·d each per query and layer: 4·L·T·d without a mask, 2·L·T·d on average under a causal
mask. Training costs about 3× the forward pass (the backward pass computes two products per
forward product); activation checkpointing adds one more forward: 4×.

Memory. Inference: weights + KV cache (2·L·B·T·d·b for a decoder) + the largest transient
activations. Training: weights + gradients + optimizer states (AdamW: 2 per trainable
weight; SGD with momentum: 1) + the activations kept for the backward pass, per layer and
token (Korthikanti et al. 2022, for this code's blocks)::

    9d + 2f elements   (LayerNorm inputs and outputs, q, k, v, attention output, its
                       projection's input, feed-forward input, GELU input and output)
    + 2d + h·T·(2 + 1/b)   when attention dropout is on: PyTorch then takes its math path,
                           which keeps scaled copies of q and k and materializes the (T, T)
                           softmax, its dropout mask and the dropped matrix
    + 2d bytes              dropout masks of the two residual branches

plus, for a language model, the logits, their shifted copy and the fp32 log-softmax (GPT:
only one block of 1,024 rows of fp32 log-probabilities and the hidden states' gradient, as
its loss is fused with the output layer, see ``nn/losses.py``). The
peak of a step is weights + optimizer states + the larger of (activations + the output
layer's gradient + one layer's backward workspace) and (gradients + AdamW's one temporary):
gradients appear while the backward pass frees activations. With activation checkpointing
only each layer's input (d per token) is kept, and one layer's activations exist at a time
while it is recomputed. The process's resident memory can exceed this: glibc keeps freed
blocks for reuse (see docs/plan.md).

Time comes from a calibration measured once on this machine (``bigmodel plan --calibrate``):
matrix-multiply FLOP/s, the seconds per weight byte of ``F.linear`` at batch 1, 8 and 32
(a decoding step is a chain of such products: bandwidth-bound at batch 1, more and more
compute-bound as the batch grows), and the framework's fixed cost per decoding step and per
layer (timed on a tiny GPT, whose weights cost nothing). Decoding one step of B tokens reads
every weight once and the KV cache, so

    t_step ≈ t_fixed + L·t_layer + weight_bytes · s(B) + kv_bytes / bandwidth
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BigModelError, did_you_mean

# nn.losses.DEFAULT_BLOCK_ROWS (not imported: the planner does not load torch).
LOSS_BLOCK_ROWS = 1024

__all__ = [
    "Calibration",
    "ModelShape",
    "Plan",
    "calibrate",
    "calibration_path",
    "count_parameters",
    "fits_in_memory",
    "human_bytes",
    "load_calibration",
    "model_shape",
    "parse_memory",
    "plan",
]

DTYPE_BYTES = {"fp32": 4, "float32": 4, "bf16": 2, "bfloat16": 2, "fp16": 2, "float16": 2}
CANONICAL_DTYPE = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
OPTIMIZERS = ("adamw", "sgd")
OPTIMIZER_STATES = {"adamw": 2, "sgd": 1}  # exp_avg + exp_avg_sq; momentum buffer
LM_ARCHITECTURES = ("GPT2LMHeadModel", "BertForPreTraining", "BertForMaskedLM")


# --------------------------------------------------------------------------- the shape


@dataclass(frozen=True)
class Stack:
    """A stack of identical Transformer layers."""

    n_layers: int
    d_model: int
    n_heads: int
    d_ff: int
    causal: bool
    cross_attention: bool = False
    bias: bool = True
    pre_ln: bool = True


@dataclass
class ModelShape:
    """What the formulas need to know about a model, read from its config."""

    name: str
    family: str
    architecture: str
    config: Any
    stacks: list[Stack] = field(default_factory=list)
    vocab_size: int = 0
    max_seq_len: int = 0
    attn_dropout: float = 0.0
    dropout: float = 0.0
    backbone_params: int = 0
    head_params: int = 0
    embedding_params: int = 0
    output_layer: int = 0  # weights of the vocabulary projection used per token (V·d or 0)
    image_size: int = 0  # ResNet: input resolution the FLOPs are counted at
    conv_macs_per_image: int = 0
    conv_activation_elems: int = 0  # ResNet: outputs of every conv/bn/relu for one image
    largest_map_elems: int = 0  # ResNet: the largest feature map of one image

    @property
    def is_decoder(self) -> bool:
        return any(s.causal for s in self.stacks)

    @property
    def n_layers(self) -> int:
        return sum(s.n_layers for s in self.stacks)


def _linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def _layer_params(s: Stack) -> int:
    d, f = s.d_model, s.d_ff
    attn = _linear(d, 3 * d, s.bias) + _linear(d, d, s.bias)
    cross = (_linear(d, d, s.bias) + _linear(d, 2 * d, s.bias) + _linear(d, d, s.bias)) if s.cross_attention else 0
    ffn = _linear(d, f, s.bias) + _linear(f, d, s.bias)
    norms = 2 * d * (3 if s.cross_attention else 2)
    return attn + cross + ffn + norms


def _gpt_shape(name: str, architecture: str, c: Any) -> ModelShape:
    d, V = c.d_model, c.vocab_size
    stack = Stack(c.n_layers, d, c.n_heads, c.d_ff, causal=True, bias=c.bias)
    embedding = V * d + c.max_seq_len * d
    backbone = embedding + c.n_layers * _layer_params(stack) + 2 * d  # + final LayerNorm
    if architecture == "GPT2LMHeadModel":
        head = 0 if c.tie_embeddings else V * d
        output_layer = V * d
    elif architecture == "GPT2ForSequenceClassification":
        head, output_layer = d * c.num_labels, d * c.num_labels  # score: no bias, as in HF
    else:
        head, output_layer = 0, 0
    return ModelShape(name, "gpt", architecture, c, [stack], V, c.max_seq_len, c.attn_dropout, c.dropout,
                      backbone, head, embedding, output_layer)


def _bert_shape(name: str, architecture: str, c: Any) -> ModelShape:
    d, V = c.d_model, c.vocab_size
    stack = Stack(c.n_layers, d, c.n_heads, c.d_ff, causal=False, pre_ln=False)
    embedding = V * d + c.max_seq_len * d + c.type_vocab_size * d
    pooler = _linear(d, d)
    # The backbone is BertModel with its pooler, the number model cards quote.
    backbone = embedding + 2 * d + c.n_layers * _layer_params(stack) + pooler
    mlm = _linear(d, d) + 2 * d + V  # transform, LayerNorm, decoder bias (weight tied)
    head, output_layer = {
        "BertModel": (0, 0),
        "BertForPreTraining": (mlm + _linear(d, 2), d * d + V * d),
        "BertForMaskedLM": (mlm - pooler, d * d + V * d),
        "BertForSequenceClassification": (_linear(d, c.num_labels), d * c.num_labels),
    }.get(architecture, (0, 0))
    return ModelShape(name, "bert", architecture, c, [stack], V, c.max_seq_len, c.attn_dropout, c.dropout,
                      backbone, head, embedding, output_layer)


def _transformer_shape(name: str, architecture: str, c: Any) -> ModelShape:
    """The Vaswani encoder-decoder: sinusoidal positions (no parameters), shared tables."""
    d, V = c.d_model, c.vocab_size
    V_tgt = c.tgt_vocab_size or V
    enc = Stack(c.n_encoder_layers, d, c.n_heads, c.d_ff, causal=False, pre_ln=c.norm_first)
    dec = Stack(c.n_decoder_layers, d, c.n_heads, c.d_ff, causal=True, cross_attention=True,
                pre_ln=c.norm_first)
    embedding = V * d + (0 if c.share_embeddings else V_tgt * d)
    final_norms = 2 * 2 * d if c.final_norm else 0
    backbone = (embedding + c.n_encoder_layers * _layer_params(enc)
                + c.n_decoder_layers * _layer_params(dec) + final_norms)
    head = 0 if c.tie_output else V_tgt * d
    return ModelShape(name, "transformer", architecture, c, [enc, dec], V_tgt, c.max_seq_len,
                      c.attn_dropout, c.dropout, backbone, head, embedding, V_tgt * d)


def _resnet_shape(name: str, architecture: str, c: Any, image_size: int | None = None) -> ModelShape:
    """ResNet (He et al. 2016): parameters, MACs and activations by walking the layout.

    A conv k×k from c_in to c_out has c_in·c_out·k² weights (no bias) and its BatchNorm
    2·c_out; on an output map of h×w it costs c_in·c_out·k²·h·w multiply-adds.
    """
    small = c.stem == "small"
    size = image_size or (32 if small else 224)
    bottleneck = c.block == "bottleneck"
    params = macs = acts = largest = 0

    def conv(cin: int, cout: int, k: int, out_hw: int) -> None:
        nonlocal params, macs, acts, largest
        params += cin * cout * k * k + 2 * cout
        macs += cin * cout * k * k * out_hw * out_hw
        acts += 2 * cout * out_hw * out_hw  # conv output (BN saves it) and BN/ReLU output
        largest = max(largest, cout * out_hw * out_hw)

    hw = size if small else (size + 1) // 2
    conv(c.num_channels, c.embedding_size, 3 if small else 7, hw)
    if not small:
        hw = (hw + 1) // 2  # 3×3 max-pool, stride 2
    cin = c.embedding_size
    for stage, (width, depth) in enumerate(zip(c.hidden_sizes, c.depths, strict=True)):
        for i in range(depth):
            stride = 2 if i == 0 and (stage > 0 or c.downsample_in_first_stage) else 1
            out_hw = (hw + stride - 1) // stride
            if bottleneck:
                inner = width // 4
                first_hw = out_hw if c.downsample_in_bottleneck else hw
                conv(cin, inner, 1, first_hw)
                conv(inner, inner, 3, out_hw)
                conv(inner, width, 1, out_hw)
            else:
                conv(cin, width, 3, out_hw)
                conv(width, width, 3, out_hw)
            if cin != width or stride != 1:
                conv(cin, width, 1, out_hw)
            cin, hw = width, out_hw
    head = _linear(cin, c.num_labels) if architecture != "ResNetModel" else 0
    # The model-card count of a ResNet includes its classifier: it is the backbone here.
    return ModelShape(name, "resnet", architecture, c, [], 0, 0, 0.0, 0.0, params + head, 0, 0, 0,
                      image_size=size, conv_macs_per_image=macs + head,
                      conv_activation_elems=acts, largest_map_elems=largest)


_SHAPERS = {"gpt": _gpt_shape, "bert": _bert_shape, "transformer": _transformer_shape, "resnet": _resnet_shape}


def model_shape(model: Any) -> ModelShape:
    """Read a preset name, a local Hugging Face folder, or a config object, never weights."""
    from ..models.base import BigModel, ConfigBase

    if isinstance(model, BigModel):
        return _shape_from_config(getattr(model, "name_or_path", type(model).__name__), model.family,
                                  model.architecture, model.config)
    if isinstance(model, ConfigBase):
        family = _family_of_config(model)
        architecture = {"gpt": "GPT2LMHeadModel", "bert": "BertModel", "transformer": "BigmodelTransformer",
                        "resnet": "ResNetForImageClassification"}[family]
        return _shape_from_config(type(model).__name__, family, architecture, model)
    if not isinstance(model, (str, Path)) or not str(model).strip():
        raise BigModelError(f"model must be a preset name or a model folder, got {model!r}")
    name = str(model)
    path = Path(name).expanduser()
    if path.is_dir():
        return _shape_from_folder(name, path)
    from ..registry import PRESETS, local_weights_dir

    preset = PRESETS.get(name)
    if preset is None:
        if "/" in name and not path.exists():
            from ..hub import resolve_model_dir

            return _shape_from_folder(name, resolve_model_dir(name))
        raise BigModelError(f"unknown model {name!r}{did_you_mean(name, sorted(PRESETS))}; "
                            f"give a preset (`bigmodel models` lists them) or a model folder")
    config_class = _config_class(preset.family)
    if not preset.config and preset.weights.startswith(("shipped:", "package:")):
        folder = local_weights_dir(preset)
        return _shape_from_folder(name, folder, preset.architecture)
    return _shape_from_config(name, preset.family, preset.architecture, config_class.from_dict(preset.config))


_CONFIG_CLASSES = {"gpt": ("gpt", "GPTConfig"), "bert": ("bert", "BertConfig"),
                   "transformer": ("transformer", "TransformerConfig"), "resnet": ("resnet", "ResNetConfig")}


def _config_class(family: str) -> Any:
    import importlib

    if family not in _CONFIG_CLASSES:
        raise BigModelError(f"the planner does not know the family {family!r}; it knows {', '.join(_SHAPERS)}")
    module, name = _CONFIG_CLASSES[family]
    return getattr(importlib.import_module(f"bigmodel.models.{module}"), name)


def _family_of_config(config: Any) -> str:
    for family, (_, class_name) in _CONFIG_CLASSES.items():
        if type(config).__name__ == class_name:
            return family
    raise BigModelError(f"the planner does not know configs of type {type(config).__name__}")


def _shape_from_folder(name: str, folder: Path, architecture: str | None = None) -> ModelShape:
    from ..hub import read_config
    from ..models.convert import family_for_model_type

    hf = read_config(folder)
    model_type = hf.get("model_type")
    if not model_type:
        raise BigModelError(f"{folder / 'config.json'} has no model_type")
    family_map = family_for_model_type(model_type)
    try:
        config = family_map.config_from_hf(hf)
    except KeyError as exc:
        raise BigModelError(f"{folder / 'config.json'} lacks the key {exc}") from None
    except (TypeError, ValueError) as exc:
        raise BigModelError(f"{folder / 'config.json'}: {exc}") from None
    arch = architecture or (hf.get("architectures") or [next(iter(family_map.architectures))])[0]
    return _shape_from_config(name, family_map.family, arch, config)


def _shape_from_config(name: str, family: str, architecture: str, config: Any) -> ModelShape:
    shaper = _SHAPERS.get(family)
    if shaper is None:
        raise BigModelError(f"the planner does not know the family {family!r}; it knows {', '.join(_SHAPERS)}")
    return shaper(name, architecture, config)


def count_parameters(model: Any) -> dict[str, int]:
    """Parameter counts from the config: backbone, head, with head, embedding tables."""
    shape = model_shape(model)
    return _parameters(shape, None)


def _lora_params(shape: ModelShape, rank: int) -> int:
    """LoRA on every attention projection: r·(n_in + n_out) per adapted Linear."""
    total = 0
    for s in shape.stacks:
        d = s.d_model
        per_layer = rank * (d + 3 * d) + rank * (d + d)
        if s.cross_attention:
            per_layer += rank * (d + d) + rank * (d + 2 * d) + rank * (d + d)
        total += s.n_layers * per_layer
    return total


CLASSIFIERS = ("BertForSequenceClassification", "GPT2ForSequenceClassification")


def _parameters(shape: ModelShape, lora_rank: int | None) -> dict[str, int]:
    with_head = shape.backbone_params + shape.head_params
    lora = _lora_params(shape, lora_rank) if lora_rank else 0
    # As bigmodel.nn.lora trains it: the adapters plus a classifier head (freshly initialized).
    trained_head = shape.head_params if shape.architecture in CLASSIFIERS else 0
    return {
        "total": shape.backbone_params,
        "head": shape.head_params,
        "with_head": with_head + lora,
        "embedding": shape.embedding_params,
        "non_embedding": shape.backbone_params - shape.embedding_params,
        "trainable": lora + trained_head if lora_rank else with_head,
        "lora": lora,
    }


# --------------------------------------------------------------------------- FLOPs


def _matmul_weights_per_token(shape: ModelShape, decoder_only: bool = False) -> int:
    """N_mm: weights each token goes through in a matrix multiply (2 FLOPs each)."""
    n = 0
    for s in shape.stacks:
        if decoder_only and not s.causal:
            continue
        d, f = s.d_model, s.d_ff
        per_layer = 4 * d * d + 2 * d * f
        if s.cross_attention:
            per_layer += 2 * d * d  # q and output projections; k, v run over the source
        n += s.n_layers * per_layer
    return n + shape.output_layer


def _attention_flops_per_token(shape: ModelShape, context: int) -> int:
    """Scores Q·Kᵀ and weights·V: 2·T·d each per query; a causal query sees T/2 on average."""
    total = 0
    for s in shape.stacks:
        full = 4 * s.n_layers * context * s.d_model
        total += full // 2 if s.causal else full
        if s.cross_attention:
            total += 4 * s.n_layers * context * s.d_model
    return total


def _flops(shape: ModelShape, batch: int, seq_len: int, checkpointing: bool) -> dict[str, float]:
    if shape.family == "resnet":
        fwd = 2.0 * shape.conv_macs_per_image
        return {"forward_per_image": fwd, "forward_per_step": fwd * batch,
                "training_per_step": fwd * batch * (4 if checkpointing else 3)}
    fwd_token = 2.0 * _matmul_weights_per_token(shape) + _attention_flops_per_token(shape, seq_len)
    step = fwd_token * batch * seq_len
    out = {"forward_per_token": fwd_token, "forward_per_step": step,
           "training_per_step": step * (4 if checkpointing else 3)}
    if shape.is_decoder:
        # One new token at position t attends to t keys (no causal averaging).
        out["decode_per_token"] = 2.0 * _matmul_weights_per_token(shape, decoder_only=True) + sum(
            4 * s.n_layers * seq_len * s.d_model for s in shape.stacks if s.causal)
    return out


# --------------------------------------------------------------------------- memory


def _kv_cache_bytes(shape: ModelShape, batch: int, seq_len: int, b: int) -> int:
    return sum(2 * s.n_layers * batch * seq_len * s.d_model * b for s in shape.stacks if s.causal)


def _inference_activation_bytes(shape: ModelShape, batch: int, seq_len: int, b: int) -> int:
    """The largest set of tensors alive at once in a forward pass without gradients.

    Inside a layer: the residual x, the LayerNorm output, fused qkv (3d), the attention
    output and its reshaped copy, the projection: 7d per token; or in the feed-forward x,
    its LayerNorm, fc_in's output and the GELU output: 2d + 2f. Then the output layer's
    logits (B, T, V).
    """
    if shape.family == "resnet":
        # A block's input, its shortcut and the conv being computed at the largest map.
        return 3 * shape.largest_map_elems * batch * b
    tokens = batch * seq_len
    layer = max(max(7 * s.d_model, 2 * s.d_model + 2 * s.d_ff) for s in shape.stacks)
    logits = shape.vocab_size if shape.output_layer >= shape.vocab_size else 0
    return tokens * (layer + logits) * b


def _saved_activation_bytes(shape: ModelShape, batch: int, seq_len: int, b: int,
                            checkpointing: bool) -> tuple[int, int]:
    """Activations kept for the backward pass (see the module docstring), and the largest
    single layer's share (the backward pass of a layer holds gradients of that size)."""
    if shape.family == "resnet":
        saved = shape.conv_activation_elems * batch * b
        return (saved // 4 if checkpointing else saved), 3 * shape.largest_map_elems * batch * b
    tokens = batch * seq_len
    dropout_mask = 2 if shape.dropout > 0 else 0
    total = 0
    largest_layer = 0
    for s in shape.stacks:
        per_token = (9 * s.d_model + 2 * s.d_ff) * b + dropout_mask * s.d_model
        if s.cross_attention:
            per_token += 6 * s.d_model * b
        if shape.attn_dropout > 0:
            # PyTorch's math path then: scaled copies of q and k (2d), the softmax output and
            # the dropped matrix (b bytes each) and the bool mask, (B, h, T, T).
            per_token += 2 * s.d_model * b
            per_token += s.n_heads * seq_len * (2 * b + 1) * (2 if s.cross_attention else 1)
        layer = per_token * tokens
        largest_layer = max(largest_layer, layer)
        total += s.n_layers * (s.d_model * b * tokens if checkpointing else layer)
    if checkpointing:
        total += largest_layer
    # Token + position sum, its dropout mask, and BERT's embedding LayerNorm output.
    layer_norm = 1 if shape.family == "bert" else 0
    embed = tokens * shape.stacks[0].d_model * ((1 + layer_norm) * b + (1 if shape.dropout > 0 else 0))
    if shape.output_layer < shape.vocab_size:
        head = 0
    elif shape.family == "gpt":
        # bigmodel's GPT fuses the output layer with the loss (nn/losses.py): no logits are
        # kept, only the hidden states' gradient (fp32) and one block of rows at a time of fp32
        # log-probabilities (plus its copy in the compute dtype under autocast).
        block = min(tokens, LOSS_BLOCK_ROWS)
        head = tokens * shape.stacks[-1].d_model * 4 + block * shape.vocab_size * (4 + (b if b < 4 else 0))
    else:
        # The logits, their shifted copy and the fp32 log-softmax.
        head = tokens * shape.vocab_size * (2 * b + 4)
    return total + embed + head, largest_layer


def _memory(shape: ModelShape, params: dict[str, int], batch: int, seq_len: int, b: int,
            optimizer: str, checkpointing: bool) -> dict[str, dict[str, int]]:
    weights = params["with_head"] * b
    kv = _kv_cache_bytes(shape, batch, seq_len, b)
    act_inf = _inference_activation_bytes(shape, batch, seq_len, b)
    trainable = params["trainable"]
    grads = trainable * b
    states = OPTIMIZER_STATES[optimizer] * trainable * b
    act, workspace = _saved_activation_bytes(shape, batch, seq_len, b, checkpointing=False)
    act_ckpt, _ = _saved_activation_bytes(shape, batch, seq_len, b, checkpointing=True)
    # The peak of a training step is not the plain sum: gradients appear while the backward
    # pass frees activations, and the optimizer's step runs after every activation is gone
    # (AdamW's foreach step allocates one temporary of the size of the trainable weights).
    step_temp = trainable * b if optimizer == "adamw" else 0
    # The output layer's gradient is allocated first, while all activations still live.
    first_grad = shape.output_layer * b if shape.output_layer >= shape.vocab_size > 0 else 0

    def peak(activations: int) -> int:
        return weights + states + max(activations + first_grad + workspace, grads + step_temp)

    return {
        "inference": {"weights": weights, "kv_cache": kv, "activations": act_inf,
                      "total": weights + kv + act_inf},
        "training": {"weights": weights, "gradients": grads, "optimizer": states,
                     "activations": act, "activations_checkpointed": act_ckpt,
                     "sum": weights + grads + states + act,
                     "total": peak(act), "total_checkpointed": peak(act_ckpt)},
    }


# --------------------------------------------------------------------------- calibration


@dataclass
class Calibration:
    """What this machine does per second, measured once by :func:`calibrate`."""

    matmul_flops: dict[str, float]  # dtype -> FLOP/s of a 2048² matrix multiply
    gemv_bandwidth: dict[str, float]  # dtype -> bytes/s streamed by a matrix-vector product
    stream_bandwidth: float  # bytes/s of summing a large tensor
    step_overhead_s: float  # fixed framework cost of one decoding step
    layer_overhead_s: float  # framework cost per layer per decoding step
    threads: int
    machine: str
    torch_version: str
    measured_at: str
    # dtype -> {batch: seconds per weight byte of nn.Linear at that batch}: a decoding step
    # at batch B is a chain of (B, n) x (n, m) products, bandwidth-bound at B = 1 and ever
    # more compute-bound as B grows.
    linear_s_per_byte: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def calibration_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bigmodel" / "calibration.json"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu} x{os.cpu_count()}"


def _median_time(fn: Any, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


# Sizes of the calibration runs (tests shrink them).
_MATMUL_N = 2048
_GEMV_N, _GEMV_COUNT = 4096, 8  # 8 matrices of 4096² = 512 MiB in fp32: no cache holds them
_STREAM_ELEMS = 64 * 1024 * 1024  # 256 MiB
_DECODE_TOKENS = 48
LINEAR_BATCHES = (1, 8, 32)


def _decode_step_time(n_layers: int, tokens: int | None = None) -> float:
    """Seconds per greedy step of a tiny GPT (weights negligible: pure framework cost)."""
    import torch

    from ..models.gpt import GPT, GPTConfig

    tokens = tokens or _DECODE_TOKENS
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=256, max_seq_len=tokens + 8, d_model=64, n_layers=n_layers,
                          n_heads=2, dropout=0.0, attn_dropout=0.0)).eval()

    def run() -> None:
        cache = model.new_kv_cache(1, tokens + 2)
        ids = torch.zeros(1, 1, dtype=torch.long)
        with torch.inference_mode():
            for _ in range(tokens):
                logits = model(ids, kv_cache=cache, logits_to_keep=1).logits
                ids = logits[:, -1].argmax(-1, keepdim=True)

    return _median_time(run, 5) / tokens


def calibrate(save: bool = True, progress: bool = False) -> Calibration:
    """Time matrix multiplies, weight streaming and decoding overhead (a few seconds)."""
    import torch

    steps = ["matmul", "bandwidth", "overhead"]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(steps), desc="calibrating", unit="step", leave=False)
    import torch.nn.functional as F

    matmul: dict[str, float] = {}
    gemv: dict[str, float] = {}
    linear: dict[str, dict[str, float]] = {}
    with torch.inference_mode():
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            a = torch.randn(_MATMUL_N, _MATMUL_N).to(dtype)
            c = torch.randn(_MATMUL_N, _MATMUL_N).to(dtype)
            matmul[name] = 2 * _MATMUL_N**3 / _median_time(lambda a=a, c=c: a @ c, 5)
        matmul["fp16"] = matmul["bf16"]
        if bar:
            bar.update()
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            weights = [torch.randn(_GEMV_N, _GEMV_N).to(dtype) for _ in range(_GEMV_COUNT)]
            nbytes = sum(w.numel() * w.element_size() for w in weights)
            per_batch = {}
            for batch in LINEAR_BATCHES:
                x = torch.randn(batch, _GEMV_N).to(dtype)
                # F.linear, as the models call it: x Wᵀ with W stored (out, in).
                seconds = _median_time(lambda ws=weights, x=x: [F.linear(x, w) for w in ws], 3)
                per_batch[str(batch)] = seconds / nbytes
            linear[name] = per_batch
            gemv[name] = 1.0 / per_batch["1"]
            del weights
        gemv["fp16"] = gemv["bf16"]
        linear["fp16"] = linear["bf16"]
        big = torch.ones(_STREAM_ELEMS)
        stream = big.numel() * 4 / _median_time(big.sum, 5)
        del big
        if bar:
            bar.update()
    t1, t5 = _decode_step_time(1), _decode_step_time(5)
    per_layer = max((t5 - t1) / 4, 0.0)
    fixed = max(t1 - per_layer, 0.0)
    if bar:
        bar.update()
        bar.close()
    result = Calibration(matmul, gemv, stream, fixed, per_layer, torch.get_num_threads(), _machine(),
                         torch.__version__, time.strftime("%Y-%m-%dT%H:%M:%S"), linear)
    if save:
        from ..fileio import atomic_write_text

        atomic_write_text(calibration_path(), json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def load_calibration() -> Calibration | None:
    """The cached calibration, or None when there is none for this machine and torch."""
    import torch

    path = calibration_path()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        calibration = Calibration(**data)
    except (OSError, ValueError, TypeError):
        return None
    if calibration.machine != _machine() or calibration.torch_version != torch.__version__:
        return None
    return calibration


def _times(shape: ModelShape, params: dict[str, int], flops: dict[str, float], batch: int,
           seq_len: int, dtype: str, b: int, cal: Calibration) -> dict[str, float]:
    rate = cal.matmul_flops.get(dtype, cal.matmul_flops["fp32"])
    layers = shape.n_layers
    overhead = cal.step_overhead_s + layers * cal.layer_overhead_s
    out = {
        "forward_s": flops["forward_per_step"] / rate + overhead,
        # backward ≈ 2 forwards of work and of framework calls
        "training_step_s": flops["training_per_step"] / rate + 3 * overhead,
    }
    if shape.is_decoder:
        bandwidth = cal.gemv_bandwidth.get(dtype, cal.gemv_bandwidth["fp32"])
        # Each step streams every weight once (the embedding lookup reads one row, the
        # output layer all of V·d) and the KV cache up to the mean position T/2.
        streamed = (params["with_head"] - params["embedding"] + shape.output_layer) * b
        kv_read = _kv_cache_bytes(shape, batch, max(seq_len // 2, 1), b)
        per_byte = _linear_seconds_per_byte(cal, dtype, batch)
        if per_byte is not None:
            step = overhead + streamed * per_byte + kv_read / bandwidth
        else:  # a calibration without the batch curve: bandwidth or compute, whichever binds
            mean_flops = 2.0 * _matmul_weights_per_token(shape, decoder_only=True) + sum(
                2 * s.n_layers * seq_len * s.d_model for s in shape.stacks if s.causal)
            step = overhead + max((streamed + kv_read) / bandwidth, batch * mean_flops / rate)
        out["decode_step_s"] = step
        out["decode_tokens_per_s"] = batch / step
    return out


def _linear_seconds_per_byte(cal: Calibration, dtype: str, batch: int) -> float | None:
    """Interpolate the measured (batch -> s/byte) curve; beyond it, time grows with B."""
    curve = cal.linear_s_per_byte.get(dtype) or cal.linear_s_per_byte.get("fp32")
    if not curve:
        return None
    points = sorted((int(k), v) for k, v in curve.items())
    if batch <= points[0][0]:
        return points[0][1]
    for (b0, s0), (b1, s1) in zip(points, points[1:], strict=False):
        if batch <= b1:
            return s0 + (s1 - s0) * (batch - b0) / (b1 - b0)
    b_last, s_last = points[-1]
    return s_last * batch / b_last


# --------------------------------------------------------------------------- the plan


@dataclass
class Plan:
    model: str
    family: str
    architecture: str
    settings: dict[str, Any]
    parameters: dict[str, int]
    flops: dict[str, float]
    memory: dict[str, dict[str, int]]
    time: dict[str, float] | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def peak_memory(self) -> int:
        """Bytes the chosen mode needs (training with or without checkpointing, or inference)."""
        if self.settings["training"]:
            key = "total_checkpointed" if self.settings["checkpointing"] else "total"
            return self.memory["training"][key]
        return self.memory["inference"]["total"]

    def format(self) -> str:
        return format_plans([self])


def _check_positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BigModelError(f"{name} must be a positive integer, got {value!r}")
    return value


def plan(
    model: Any,
    *,
    batch_size: int = 1,
    seq_len: int | None = None,
    dtype: str = "fp32",
    training: bool = False,
    optimizer: str = "adamw",
    checkpointing: bool = False,
    lora_rank: int | None = None,
    calibration: Calibration | None = None,
) -> Plan:
    """Parameters, FLOPs, memory and (with a calibration) time of ``model`` at this shape.

    ``model``: a preset name, a local Hugging Face folder, a config or a model object.
    ``seq_len`` defaults to the model's context (ResNet: images of the config's size).
    """
    shape = model_shape(model)
    batch_size = _check_positive(batch_size, "batch_size")
    if dtype not in DTYPE_BYTES:
        raise BigModelError(f"dtype must be one of {', '.join(DTYPE_BYTES)}, got {dtype!r}")
    dtype = CANONICAL_DTYPE.get(dtype, dtype)
    if optimizer not in OPTIMIZERS:
        raise BigModelError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}"
                            f"{did_you_mean(str(optimizer), list(OPTIMIZERS))}")
    if lora_rank is not None:
        _check_positive(lora_rank, "lora_rank")
        if shape.family == "resnet":
            raise BigModelError("lora_rank applies to attention projections; a ResNet has none")
    notes: list[str] = []
    if shape.family == "resnet":
        if seq_len is not None:
            raise BigModelError("seq_len does not apply to a ResNet (it reads images)")
        seq_len = 1
    elif seq_len is None:
        seq_len = shape.max_seq_len
    else:
        _check_positive(seq_len, "seq_len")
        if seq_len > shape.max_seq_len:
            raise BigModelError(f"seq_len={seq_len} exceeds {shape.name}'s context of "
                                f"{shape.max_seq_len} tokens")
    b = DTYPE_BYTES[dtype]
    params = _parameters(shape, lora_rank)
    flops = _flops(shape, batch_size, seq_len, checkpointing)
    memory = _memory(shape, params, batch_size, seq_len, b, optimizer, checkpointing)
    if optimizer == "sgd":
        notes.append("sgd is counted with momentum (one state per weight)")
    if training and shape.attn_dropout > 0 and shape.family != "resnet":
        notes.append(f"attention dropout ({shape.attn_dropout}) makes PyTorch keep (T, T) attention "
                     f"matrices for the backward pass; attn_dropout=0 lets the fused kernel skip them")
    if lora_rank:
        notes.append(f"LoRA rank {lora_rank} on every attention projection (and a classifier head); "
                     f"the base weights are frozen")
    cal = calibration if calibration is not None else load_calibration()
    times = None
    if cal is not None and shape.family != "resnet":
        times = _times(shape, params, flops, batch_size, seq_len, dtype, b, cal)
    elif cal is not None:
        rate = cal.matmul_flops.get(dtype, cal.matmul_flops["fp32"])
        times = {"forward_s": flops["forward_per_step"] / rate,
                 "training_step_s": flops["training_per_step"] / rate}
    else:
        notes.append("no time estimate: run `bigmodel plan --calibrate` once on this machine")
    settings = {"batch_size": batch_size, "seq_len": None if shape.family == "resnet" else seq_len,
                "image_size": shape.image_size or None, "dtype": dtype, "training": training,
                "optimizer": optimizer, "checkpointing": checkpointing, "lora_rank": lora_rank}
    return Plan(shape.name, shape.family, shape.architecture, settings, params, flops, memory, times, notes)


# --------------------------------------------------------------------------- budget


_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_memory(text: str | int | float) -> int:
    """'8GB' -> 8·10⁹ bytes; 'GiB' units are powers of two; a bare number is bytes."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text <= 0:
            raise BigModelError(f"memory budget must be positive, got {text}")
        return int(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    unit = m.group(2).upper() if m else ""
    if not m or unit not in _UNITS or float(m.group(1)) <= 0:
        raise BigModelError(f"memory budget must look like 8GB, 512MB or 16GiB, got {text!r}")
    return int(float(m.group(1)) * _UNITS[unit])


def fits_in_memory(budget: str | int, **settings: Any) -> list[dict[str, Any]]:
    """Every preset with the memory it needs under ``settings`` and whether it fits."""
    from ..registry import PRESETS

    limit = parse_memory(budget)
    rows = []
    for name in sorted(PRESETS):
        kwargs = dict(settings)
        if PRESETS[name].family == "resnet":
            kwargs.pop("seq_len", None)  # images: the sequence length does not apply
        try:
            p = plan(name, **kwargs)
        except BigModelError as exc:
            rows.append({"model": name, "needs": None, "fits": False, "why": str(exc)})
            continue
        need = p.peak_memory()
        rows.append({"model": name, "needs": need, "fits": need <= limit, "why": ""})
    return rows


# --------------------------------------------------------------------------- text


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} TB"


def human_count(n: float) -> str:
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:.0f}"


def _rows(p: Plan) -> list[tuple[str, str]]:
    s = p.settings
    rows: list[tuple[str, str]] = [
        ("family / architecture", f"{p.family} / {p.architecture}"),
        ("batch × seq_len, dtype", f"{s['batch_size']} × {s['seq_len']}, {s['dtype']}" if p.family != "resnet"
         else f"{s['batch_size']} × {s['image_size']}² images, {s['dtype']}"),
        ("parameters", f"{p.parameters['total']:,}"),
        ("  + head", f"{p.parameters['head']:,}"),
        ("  embedding", f"{p.parameters['embedding']:,}"),
        ("  trainable", f"{p.parameters['trainable']:,}"),
    ]
    for key, value in p.flops.items():
        rows.append((f"FLOPs {key.replace('_', ' ')}", human_count(value)))
    inf = p.memory["inference"]
    rows += [("inference: weights", human_bytes(inf["weights"])),
             ("  KV cache", human_bytes(inf["kv_cache"])),
             ("  activations", human_bytes(inf["activations"])),
             ("  total", human_bytes(inf["total"]))]
    tr = p.memory["training"]
    rows += [("training: weights", human_bytes(tr["weights"])),
             ("  gradients", human_bytes(tr["gradients"])),
             (f"  optimizer ({s['optimizer']})", human_bytes(tr["optimizer"])),
             ("  saved activations", human_bytes(tr["activations"])),
             ("  saved activations, checkpointed", human_bytes(tr["activations_checkpointed"])),
             ("  peak", human_bytes(tr["total"])),
             ("  peak, checkpointed", human_bytes(tr["total_checkpointed"]))]
    if p.time:
        labels = {"forward_s": "time: forward step", "training_step_s": "time: training step",
                  "decode_step_s": "time: decode step", "decode_tokens_per_s": "decode tokens/s"}
        for key, value in p.time.items():
            rows.append((labels.get(key, key), f"{value:.1f}" if key.endswith("per_s") else _seconds(value)))
    return rows


def _seconds(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def format_plans(plans: list[Plan]) -> str:
    """One plan as a table, or several side by side."""
    tables = [dict(_rows(p)) for p in plans]
    labels: list[str] = []
    for table in tables:
        labels += [label for label in table if label not in labels]
    headers = [p.model for p in plans]
    label_w = max(len(x) for x in labels)
    widths = [max(len(h), *(len(v) for v in t.values())) for h, t in zip(headers, tables, strict=True)]
    lines = [" " * label_w + "  " + "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    for label in labels:
        cells = [t.get(label, "-") for t in tables]
        lines.append(label.ljust(label_w) + "  "
                     + "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))
    for p in plans:
        for note in p.notes:
            prefix = f"{p.model}: " if len(plans) > 1 else ""
            lines.append(f"note: {prefix}{note}")
    return "\n".join(lines)
