"""Attention maps: where each token looks, for every layer and head.

The models compute attention on the explicit path when asked (``output_attentions=True``)
and return, per layer, the weights

    A[l] = softmax(Q Kᵀ / √d_k + M)       (B, h, T_q, T_k), every row sums to 1

(zero above the diagonal for a causal layer). This module collects them for one text,
draws them, and combines layers by attention rollout (Abnar & Zuidema 2020): with the
residual connection counted as half of each layer's mixing,

    Â[l] = ½ · mean_h A[l] + ½ · I,   rows renormalized
    R = Â[L] · Â[L-1] · ... · Â[1]     (T, T): how much input token j reaches position i.

Long texts stay usable: the text is cut to ``max_tokens`` (with a notice), and ``layers`` /
``heads`` keep only the maps asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..decoding.runners import is_encoder_decoder
from ..errors import BigModelError
from ..models.base import BigModel
from ..models.families import family_of

__all__ = ["AttentionMaps", "attention_maps", "rollout", "save_attention"]


@dataclass
class AttentionMaps:
    """Weights per kind ("self", or "encoder" / "decoder" / "cross" for the Transformer).

    ``weights[kind]`` is (n_layers_kept, n_heads_kept, T_q, T_k) for one text;
    ``layers[kind]`` / ``heads`` name the original layer and head indices kept.
    """

    tokens: list[str]
    weights: dict[str, Tensor]
    layers: dict[str, list[int]]
    heads: list[int]
    causal: dict[str, bool]
    target_tokens: list[str] | None = None  # decoder side of the Transformer
    notices: list[str] = field(default_factory=list)
    n_layers: dict[str, int] = field(default_factory=dict)  # layers the model has, per kind

    def query_tokens(self, kind: str) -> list[str]:
        return self.target_tokens if kind in ("decoder", "cross") and self.target_tokens else self.tokens

    def key_tokens(self, kind: str) -> list[str]:
        return self.target_tokens if kind == "decoder" and self.target_tokens else self.tokens

    def to_dict(self, decimals: int = 4) -> dict[str, Any]:
        """JSON for the playground: tokens and weights[kind][layer][head][query][key]."""
        return {
            "tokens": self.tokens,
            "target_tokens": self.target_tokens,
            "layers": self.layers,
            "heads": self.heads,
            "causal": self.causal,
            "notices": self.notices,
            "weights": {k: torch.round(w.float(), decimals=decimals).tolist() for k, w in self.weights.items()},
            "rollout": next((torch.round(rollout(self.weights[k]), decimals=decimals).tolist()
                             for k in ("self", "encoder") if k in self.weights and self._all_layers(k)), None),
        }

    def _all_layers(self, kind: str) -> bool:
        return len(self.layers[kind]) == self.n_layers.get(kind, len(self.layers[kind]))


def rollout(weights: Tensor, residual: float = 0.5) -> Tensor:
    """Attention rollout R (T, T) from weights (L, H, T, T); see the module docstring."""
    if weights.dim() != 4 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(f"rollout needs self-attention weights (L, H, T, T), got {tuple(weights.shape)}")
    eye = torch.eye(weights.shape[-1], dtype=torch.float32)
    result = eye
    for layer in weights.float():
        mixed = (1 - residual) * layer.mean(dim=0) + residual * eye
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        result = mixed @ result
    return result


def _select(values: list[int] | None, n: int, what: str) -> list[int]:
    if values is None:
        return list(range(n))
    out = []
    for v in values:
        index = v + n if v < 0 else v
        if not 0 <= index < n:
            raise BigModelError(f"{what} {v} does not exist; the model has {n} (0..{n - 1})")
        out.append(index)
    if not out:
        raise BigModelError(f"{what}s must name at least one index")
    return out


def _encode(tokenizer: Any, text: str | list[int] | Tensor, max_tokens: int | None,
            notices: list[str], add_special_tokens: bool = True) -> list[int]:
    if isinstance(text, Tensor):
        ids = text.reshape(-1).tolist()
    elif isinstance(text, list):
        ids = [int(i) for i in text]
    else:
        if not isinstance(text, str):
            raise BigModelError(f"text must be a string, got {type(text).__name__}")
        if tokenizer is None:
            raise BigModelError("a tokenizer is needed to explain a string; pass tokenizer=")
        ids = tokenizer.encode(text, add_special_tokens=add_special_tokens)
    special = set(getattr(tokenizer, "all_special_ids", []) or []) if tokenizer is not None else set()
    if not ids or all(i in special for i in ids):
        raise BigModelError("the text is empty after tokenization; give some words to explain")
    if max_tokens is not None and len(ids) > max_tokens:
        notices.append(f"text cut to its first {max_tokens} of {len(ids)} tokens (max_tokens)")
        ids = ids[:max_tokens]
    return ids


def token_strings(tokenizer: Any, ids: list[int]) -> list[str]:
    if tokenizer is None:
        return [str(i) for i in ids]
    if hasattr(tokenizer, "convert_ids_to_tokens"):
        tokens = tokenizer.convert_ids_to_tokens(ids)
    else:
        tokens = [tokenizer.decode([i]) for i in ids]
    # Byte-level BPE marks a leading space with "Ġ" and a newline with "Ċ".
    return [str(t).replace("Ġ", "▁").replace("Ċ", "\\n") for t in tokens]


def _context_length(model: BigModel) -> int | None:
    return getattr(model.config, "max_seq_len", None)


def attention_maps(
    model: BigModel,
    text: str | list[int] | Tensor,
    tokenizer: Any = None,
    *,
    layers: list[int] | None = None,
    heads: list[int] | None = None,
    max_tokens: int | None = 256,
    target: str | list[int] | None = None,
) -> AttentionMaps:
    """Attention weights of ``model`` on one text, every layer and head unless narrowed.

    GPT and BERT give their self-attention; the Transformer its encoder self-attention,
    decoder self-attention and cross-attention (``target``: the decoder's text or ids;
    default: the model's greedy translation of ``text``).
    """
    notices: list[str] = []
    context = _context_length(model)
    limit = min(x for x in (max_tokens, context) if x is not None) if (max_tokens or context) else None
    if context is not None and max_tokens is not None and max_tokens > context:
        notices.append(f"max_tokens={max_tokens} exceeds the model's context; using {context}")
    ids = _encode(tokenizer, text, limit, notices)
    family = family_of(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if is_encoder_decoder(model):
                return _transformer_maps(model, ids, tokenizer, layers, heads, target, limit, notices)
            input_ids = torch.tensor([ids], device=model.device)
            out = model(input_ids, output_attentions=True)
    finally:
        model.train(was_training)
    if not out.attentions:
        raise BigModelError(f"{type(model).__name__} returns no attention weights")
    n_layers, n_heads = len(out.attentions), out.attentions[0].shape[1]
    keep_layers = _select(layers, n_layers, "layer")
    keep_heads = _select(heads, n_heads, "head")
    stacked = torch.stack([out.attentions[i][0] for i in keep_layers])  # (L, H, T, T)
    stacked = stacked[:, keep_heads].float()
    causal = family is not None and family.causal
    return AttentionMaps(token_strings(tokenizer, ids), {"self": stacked}, {"self": keep_layers},
                         keep_heads, {"self": causal}, None, notices, {"self": n_layers})


def _transformer_maps(model: Any, ids: list[int], tokenizer: Any, layers: list[int] | None,
                      heads: list[int] | None, target: str | list[int] | None, limit: int | None,
                      notices: list[str]) -> AttentionMaps:
    from ..nn import make_attention_bias

    src = torch.tensor([ids], device=model.device)
    if target is None:
        tgt = model.generate(src, max_new_tokens=min(32, model.config.max_seq_len - 1))[0].tolist()
    else:
        tgt = _encode(tokenizer, target, limit, notices) if isinstance(target, str) else list(target)
        if tgt[0] != model.config.bos_token_id:
            tgt = [model.config.bos_token_id, *tgt]
    # The encoder stack returns no weights; run its blocks the same way, asking for them.
    h = model.encoder.embeddings(src)
    bias = make_attention_bias(None, h.dtype)
    encoder_weights = []
    for block in model.encoder.blocks:
        h, w, _ = block(h, attn_bias=bias, need_weights=True)
        encoder_weights.append(w[0])
    memory = model.encoder.final_norm(h) if model.encoder.final_norm is not None else h
    out = model.decode(torch.tensor([tgt], device=model.device), memory, output_attentions=True)
    n_heads = encoder_weights[0].shape[0]
    keep_heads = _select(heads, n_heads, "head")
    weights, kept, totals = {}, {}, {}
    for kind, per_layer in (("encoder", encoder_weights), ("decoder", [w[0] for w in out.attentions]),
                            ("cross", [w[0] for w in out.cross_attentions])):
        keep = _select(layers, len(per_layer), "layer")
        weights[kind] = torch.stack([per_layer[i] for i in keep])[:, keep_heads].float()
        kept[kind] = keep
        totals[kind] = len(per_layer)
    return AttentionMaps(token_strings(tokenizer, ids), weights, kept, keep_heads,
                         {"encoder": False, "decoder": True, "cross": False},
                         token_strings(tokenizer, tgt), notices, totals)


# --------------------------------------------------------------------------- pictures


def _draw(ax: Any, matrix: Tensor, rows: list[str], cols: list[str], title: str, labels: bool) -> None:
    ax.imshow(matrix.numpy(), cmap="viridis", vmin=0.0, aspect="auto")
    ax.set_title(title, fontsize=8)
    if labels and len(cols) <= 64:
        ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=6)
        ax.set_yticks(range(len(rows)), rows, fontsize=6)
    else:
        ax.set_xticks([])
        ax.set_yticks([])


def _panels(maps: AttentionMaps, kind: str, view: str | None, layer: int | None,
            head: int | None) -> list[tuple[Tensor, str]]:
    """(matrix, title) of each map :func:`save_attention` draws (see its docstring)."""
    weights = maps.weights[kind]
    layer_pos = _position(maps.layers[kind], layer, "layer") if layer is not None else None
    head_pos = _position(maps.heads, head, "head") if head is not None else None
    if view == "rollout":
        if kind not in ("self", "encoder") or not maps._all_layers(kind):
            raise BigModelError("rollout needs the self-attention of every layer (do not narrow layers)")
        return [(rollout(weights), "attention rollout")]
    if layer_pos is not None and head_pos is not None:
        return [(weights[layer_pos, head_pos], f"{kind} layer {layer} head {head}")]
    if layer_pos is not None:
        return [(weights[layer_pos, i], f"head {h}") for i, h in enumerate(maps.heads)]
    return [(weights[i].mean(dim=0), f"layer {n} (mean of heads)")
            for i, n in enumerate(maps.layers[kind])]


def save_attention(
    maps: AttentionMaps,
    path: str | Path,
    *,
    kind: str | None = None,
    layer: int | None = None,
    head: int | None = None,
    view: str | None = None,
) -> Path:
    """Write a PNG (or JSON when ``path`` ends in .json).

    PNG views: ``layer`` and ``head`` -> that head; ``layer`` only -> a grid of its heads;
    neither -> one head-averaged map per layer; ``view="rollout"`` -> the rollout.
    ``layer`` / ``head`` are the model's indices (they must be among those captured).
    """
    from ..fileio import atomic_write_text, save_figure

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".png"):
        raise BigModelError(f"attention output must end in .png or .json, got {path.name!r}")
    kind = kind or next(iter(maps.weights))
    if kind not in maps.weights:
        raise BigModelError(f"kind must be one of {', '.join(maps.weights)}, got {kind!r}")
    # Checked before the JSON branch too, so a layer the model lacks is never silently ignored.
    if layer is not None:
        _position(maps.layers[kind], layer, "layer")
    if head is not None:
        _position(maps.heads, head, "head")
    if suffix == ".json":
        import json

        return atomic_write_text(path, json.dumps(maps.to_dict(), ensure_ascii=False) + "\n")
    rows, cols = maps.query_tokens(kind), maps.key_tokens(kind)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = _panels(maps, kind, view, layer, head)
    n = len(panels)
    ncols = min(n, 4)
    nrows = (n + ncols - 1) // ncols
    size = 3.2 if n > 1 else max(4.0, min(12.0, 0.25 * len(cols) + 2))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (matrix, title) in zip(axes.flat, panels, strict=False):
        _draw(ax, matrix, rows, cols, title, labels=n <= 4)
    if maps.notices:
        fig.suptitle("; ".join(maps.notices), fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
    return path


def _position(kept: list[int], index: int, what: str) -> int:
    if index < 0:
        index += max(kept) + 1
    if index not in kept:
        raise BigModelError(f"{what} {index} was not captured; captured: {', '.join(map(str, kept))}")
    return kept.index(index)
