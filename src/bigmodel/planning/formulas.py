"""Parameters, FLOPs and memory of a model shape (models/shapes.py), by formula.

Notation: L layers, d = d_model, f = d_ff, h heads, V vocabulary, P positions, B batch,
T sequence length, b bytes per element of the chosen dtype. Parameter counts of a layer are
in models/shapes.py.

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

plus, for a language model, the logits, their shifted copy and the fp32 log-softmax (a model
whose loss is fused with the output layer, GPT: only one block of 1,024 rows of fp32
log-probabilities and the hidden states' gradient, see ``nn/losses.py``). The
peak of a step is weights + optimizer states + the larger of (activations + the output
layer's gradient + one layer's backward workspace) and (gradients + AdamW's one temporary):
gradients appear while the backward pass frees activations. With activation checkpointing
only each layer's input (d per token) is kept, and one layer's activations exist at a time
while it is recomputed. The process's resident memory can exceed this: glibc keeps freed
blocks for reuse (see docs/plan.md).
"""

from __future__ import annotations

from ..models.shapes import ModelShape, Stack

# nn.losses.DEFAULT_BLOCK_ROWS (not imported: the planner does not load torch).
LOSS_BLOCK_ROWS = 1024
OPTIMIZER_STATES = {"adamw": 2, "sgd": 1}  # exp_avg + exp_avg_sq; momentum buffer


# --------------------------------------------------------------------------- parameters


def lora_params(shape: ModelShape, rank: int) -> int:
    """LoRA on every attention projection: r·(n_in + n_out) per adapted Linear."""
    total = 0
    for s in shape.stacks:
        d = s.d_model
        per_layer = rank * (d + 3 * d) + rank * (d + d)
        if s.cross_attention:
            per_layer += rank * (d + d) + rank * (d + 2 * d) + rank * (d + d)
        total += s.n_layers * per_layer
    return total


def parameter_counts(shape: ModelShape, lora_rank: int | None) -> dict[str, int]:
    with_head = shape.backbone_params + shape.head_params
    lora = lora_params(shape, lora_rank) if lora_rank else 0
    # As bigmodel.nn.lora trains it: the adapters plus a classifier head (freshly initialized).
    trained_head = shape.head_params if shape.trains_head_with_lora else 0
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


def matmul_weights_per_token(shape: ModelShape, decoder_only: bool = False) -> int:
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


def attention_flops_per_token(shape: ModelShape, context: int) -> int:
    """Scores Q·Kᵀ and weights·V: 2·T·d each per query; a causal query sees T/2 on average."""
    total = 0
    for s in shape.stacks:
        full = 4 * s.n_layers * context * s.d_model
        total += full // 2 if s.causal else full
        if s.cross_attention:
            total += 4 * s.n_layers * context * s.d_model
    return total


def forward_flops_per_token(shape: ModelShape, seq_len: int) -> float:
    """2·N_mm + the attention FLOPs at ``seq_len``."""
    return 2.0 * matmul_weights_per_token(shape) + attention_flops_per_token(shape, seq_len)


def flop_counts(
    shape: ModelShape, batch: int, seq_len: int, checkpointing: bool
) -> dict[str, float]:
    passes = 4 if checkpointing else 3
    if shape.reads_images:
        fwd = 2.0 * shape.conv_macs_per_image
        return {
            "forward_per_image": fwd,
            "forward_per_step": fwd * batch,
            "training_per_step": fwd * batch * passes,
        }
    fwd_token = forward_flops_per_token(shape, seq_len)
    step = fwd_token * batch * seq_len
    out = {
        "forward_per_token": fwd_token,
        "forward_per_step": step,
        "training_per_step": step * passes,
    }
    if shape.is_decoder:
        # One new token at position t attends to t keys (no causal averaging).
        out["decode_per_token"] = 2.0 * matmul_weights_per_token(shape, decoder_only=True) + sum(
            4 * s.n_layers * seq_len * s.d_model for s in shape.stacks if s.causal
        )
    return out


# --------------------------------------------------------------------------- memory


def kv_cache_bytes(shape: ModelShape, batch: int, seq_len: int, b: int) -> int:
    return sum(2 * s.n_layers * batch * seq_len * s.d_model * b for s in shape.stacks if s.causal)


def _inference_activation_bytes(shape: ModelShape, batch: int, seq_len: int, b: int) -> int:
    """The largest set of tensors alive at once in a forward pass without gradients.

    Inside a layer: the residual x, the LayerNorm output, fused qkv (3d), the attention
    output and its reshaped copy, the projection: 7d per token; or in the feed-forward x,
    its LayerNorm, fc_in's output and the GELU output: 2d + 2f. Then the output layer's
    logits (B, T, V).
    """
    if shape.reads_images:
        # A block's input, its shortcut and the conv being computed at the largest map.
        return 3 * shape.largest_map_elems * batch * b
    tokens = batch * seq_len
    layer = max(max(7 * s.d_model, 2 * s.d_model + 2 * s.d_ff) for s in shape.stacks)
    logits = shape.vocab_size if shape.output_layer >= shape.vocab_size else 0
    return tokens * (layer + logits) * b


def _layer_activation_bytes_per_token(shape: ModelShape, s: Stack, seq_len: int, b: int) -> int:
    """One layer's saved activations per token (see the module docstring)."""
    dropout_mask = 2 if shape.dropout > 0 else 0
    per_token = (9 * s.d_model + 2 * s.d_ff) * b + dropout_mask * s.d_model
    if s.cross_attention:
        per_token += 6 * s.d_model * b
    if shape.attn_dropout > 0:
        # PyTorch's math path then: scaled copies of q and k (2d), the softmax output and
        # the dropped matrix (b bytes each) and the bool mask, (B, h, T, T).
        per_token += 2 * s.d_model * b
        per_token += s.n_heads * seq_len * (2 * b + 1) * (2 if s.cross_attention else 1)
    return per_token


def _output_layer_bytes(shape: ModelShape, tokens: int, b: int) -> int:
    """What the output layer keeps for the backward pass."""
    if shape.output_layer < shape.vocab_size:
        return 0
    if shape.fused_loss:
        # The output layer fused with the loss (nn/losses.py): no logits are kept, only the
        # hidden states' gradient (fp32) and one block of rows at a time of fp32
        # log-probabilities (plus its copy in the compute dtype under autocast).
        block = min(tokens, LOSS_BLOCK_ROWS)
        return tokens * shape.stacks[-1].d_model * 4 + block * shape.vocab_size * (
            4 + (b if b < 4 else 0)
        )
    # The logits, their shifted copy and the fp32 log-softmax.
    return tokens * shape.vocab_size * (2 * b + 4)


def _saved_activation_bytes(
    shape: ModelShape, batch: int, seq_len: int, b: int, checkpointing: bool
) -> tuple[int, int]:
    """Activations kept for the backward pass (see the module docstring), and the largest
    single layer's share (the backward pass of a layer holds gradients of that size)."""
    if shape.reads_images:
        saved = shape.conv_activation_elems * batch * b
        return (saved // 4 if checkpointing else saved), 3 * shape.largest_map_elems * batch * b
    tokens = batch * seq_len
    total = 0
    largest_layer = 0
    for s in shape.stacks:
        layer = _layer_activation_bytes_per_token(shape, s, seq_len, b) * tokens
        largest_layer = max(largest_layer, layer)
        total += s.n_layers * (s.d_model * b * tokens if checkpointing else layer)
    if checkpointing:
        total += largest_layer
    # Token + position sum, its dropout mask, and an embedding LayerNorm's output (BERT).
    norm = 1 if shape.embedding_norm else 0
    embed = tokens * shape.stacks[0].d_model * ((1 + norm) * b + (1 if shape.dropout > 0 else 0))
    return total + embed + _output_layer_bytes(shape, tokens, b), largest_layer


def memory_needs(
    shape: ModelShape,
    params: dict[str, int],
    batch: int,
    seq_len: int,
    b: int,
    optimizer: str,
    checkpointing: bool,
) -> dict[str, dict[str, int]]:
    """Bytes for inference and for a training step, by part."""
    weights = params["with_head"] * b
    kv = kv_cache_bytes(shape, batch, seq_len, b)
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
        "inference": {
            "weights": weights,
            "kv_cache": kv,
            "activations": act_inf,
            "total": weights + kv + act_inf,
        },
        "training": {
            "weights": weights,
            "gradients": grads,
            "optimizer": states,
            "activations": act,
            "activations_checkpointed": act_ckpt,
            "sum": weights + grads + states + act,
            "total": peak(act),
            "total_checkpointed": peak(act_ckpt),
        },
    }


__all__ = [
    "LOSS_BLOCK_ROWS",
    "OPTIMIZER_STATES",
    "attention_flops_per_token",
    "flop_counts",
    "forward_flops_per_token",
    "kv_cache_bytes",
    "lora_params",
    "matmul_weights_per_token",
    "memory_needs",
    "parameter_counts",
]
