"""Integrated gradients (Sundararajan et al. 2017): which tokens pushed the output.

For a score f (a class logit of a classifier, or the logit of a chosen next token of a GPT)
and the token embeddings x (T, d) against a baseline x' (T, d)::

    IG_t = Σ_k (x_tk - x'_tk) · ∫_0^1 ∂f(x' + α(x - x')) / ∂x_tk dα

The integral is approximated by the trapezoid rule on ``steps`` intervals (α = 0, 1/m,
..., 1). Completeness, Σ_t IG_t = f(x) - f(x'), holds for the exact integral; the gap left
by the quadrature is reported as ``delta`` and shrinks like 1/steps².

Only the token embeddings move along the path: position (and segment) embeddings are added
after the token lookup, so they stay as they are, as in Captum's LayerIntegratedGradients on
the word embeddings.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import BigModelError
from ..models.base import BigModel
from .attention import _encode, token_strings

__all__ = ["Attribution", "integrated_gradients", "save_attribution", "token_embedding"]

BASELINES = ("zero", "pad")


@dataclass
class Attribution:
    tokens: list[str]
    ids: list[int]
    scores: list[float]  # IG per token, sums to ≈ f(x) - f(x')
    target: int
    target_label: str
    score: float  # f(x)
    baseline_score: float  # f(x')
    delta: float  # Σ scores - (f(x) - f(x')): the quadrature error
    steps: int
    baseline: str
    notices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def token_embedding(model: nn.Module) -> nn.Embedding:
    """The token-embedding table of a GPT, BERT or their heads."""
    for path in ("transformer.embeddings.token", "bert.embeddings.token", "embeddings.token"):
        module: Any = model
        for part in path.split("."):
            module = getattr(module, part, None)
            if module is None:
                break
        if isinstance(module, nn.Embedding):
            return module
    raise BigModelError(f"integrated gradients needs a GPT or BERT model; {type(model).__name__} "
                        f"has no token embedding it can find")


def _score(logits: Tensor, target: int) -> Tensor:
    """f for each row of the batch: the target class logit, or the next-token logit."""
    if logits.dim() == 3:  # (N, T, V) language model: the token after the last position
        return logits[:, -1, target]
    return logits[:, target]  # (N, num_labels)


def _label(model: BigModel, tokenizer: Any, target: int, is_lm: bool) -> str:
    if is_lm:
        return token_strings(tokenizer, [target])[0] if tokenizer is not None else str(target)
    id2label = getattr(model.config, "id2label", None) or {}
    return str(id2label.get(target, target))


def integrated_gradients(
    model: BigModel,
    text: str | list[int] | Tensor,
    tokenizer: Any = None,
    *,
    target: int | str | None = None,
    steps: int = 64,
    baseline: str = "zero",
    batch_size: int = 16,
    max_tokens: int | None = 512,
) -> Attribution:
    """IG of each token of ``text`` for ``target``: a class (index or label) of a classifier,
    or the next token (id or text) of a GPT. ``target=None`` takes the model's own choice.

    ``baseline``: "zero" (zero vectors) or "pad" (the padding token's vector, special tokens
    kept as they are). ``batch_size`` points of the path go through the model at once.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise BigModelError(f"steps must be a positive integer, got {steps!r}")
    if baseline not in BASELINES:
        raise BigModelError(f"baseline must be one of {', '.join(BASELINES)}, got {baseline!r}")
    notices: list[str] = []
    context = getattr(model.config, "max_seq_len", None)
    limit = min(x for x in (max_tokens, context) if x is not None) if (max_tokens or context) else None
    ids = _encode(tokenizer, text, limit, notices)
    embedding = token_embedding(model)
    device = model.device
    input_ids = torch.tensor([ids], device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(input_ids).logits
        is_lm = logits.dim() == 3
        target_id = _resolve_target(model, tokenizer, target, logits, is_lm)
        x = embedding(input_ids)[0].detach()  # (T, d)
        x_base = _baseline(model, tokenizer, embedding, ids, x, baseline)
        total_grad, f_x, f_base = _path_gradients(model, embedding, input_ids, x, x_base,
                                                  target_id, steps, batch_size)
    finally:
        model.train(was_training)
    scores = ((x - x_base) * total_grad).sum(dim=-1)  # (T,)
    delta = float(scores.sum()) - (f_x - f_base)
    return Attribution(token_strings(tokenizer, ids), ids, [float(s) for s in scores], target_id,
                       _label(model, tokenizer, target_id, is_lm), f_x, f_base, delta, steps, baseline,
                       notices)


def _resolve_target(model: BigModel, tokenizer: Any, target: int | str | None, logits: Tensor,
                    is_lm: bool) -> int:
    n_out = logits.shape[-1]
    if target is None:
        return int(_score_argmax(logits))
    if isinstance(target, str) and not target.lstrip("-").isdigit():
        if is_lm:
            if tokenizer is None:
                raise BigModelError("a text target needs a tokenizer; pass a token id instead")
            target_ids = tokenizer.encode(target, add_special_tokens=False)
            if len(target_ids) != 1:
                raise BigModelError(f"target {target!r} is {len(target_ids)} tokens; give one token")
            return target_ids[0]
        labels = {v: k for k, v in (getattr(model.config, "id2label", None) or {}).items()}
        if target not in labels:
            from ..errors import did_you_mean

            raise BigModelError(f"target label {target!r} is not one of the model's labels"
                                f"{did_you_mean(target, list(labels))}: {', '.join(labels) or 'none named'}")
        return int(labels[target])
    index = int(target)
    if not 0 <= index < n_out:
        raise BigModelError(f"target must be in 0..{n_out - 1}, got {index}")
    return index


def _score_argmax(logits: Tensor) -> Tensor:
    return logits[0, -1].argmax() if logits.dim() == 3 else logits[0].argmax()


def _baseline(model: BigModel, tokenizer: Any, embedding: nn.Embedding, ids: list[int], x: Tensor,
              kind: str) -> Tensor:
    if kind == "zero":
        return torch.zeros_like(x)
    pad = getattr(tokenizer, "pad_token_id", None) if tokenizer is not None else None
    if pad is None:
        pad = getattr(model.config, "pad_token_id", None)
    if pad is None:
        raise BigModelError("baseline 'pad' needs a padding token; this model has none: use 'zero'")
    special = set(getattr(tokenizer, "all_special_ids", []) or []) if tokenizer is not None else set()
    base_ids = [i if i in special else pad for i in ids]
    with torch.no_grad():
        return embedding(torch.tensor([base_ids], device=x.device))[0]


def _path_gradients(model: BigModel, embedding: nn.Embedding, input_ids: Tensor, x: Tensor,
                    x_base: Tensor, target: int, steps: int,
                    batch_size: int) -> tuple[Tensor, float, float]:
    """Trapezoid-weighted sum of ∂f/∂x along the path, and f at both ends.

    The model takes ids, not embeddings. Rather than change every model's signature, a
    forward hook on the token-embedding module replaces its output with the interpolated
    embeddings: everything after the lookup (positions, LayerNorm, the blocks) runs exactly
    as in a normal forward pass, and the gradient flows back to the tensor we inserted.
    """
    alphas = torch.linspace(0.0, 1.0, steps + 1, device=x.device)
    weights = torch.full((steps + 1,), 1.0 / steps, device=x.device)
    weights[0] = weights[-1] = 0.5 / steps
    total = torch.zeros_like(x, dtype=torch.float32)
    ends: dict[int, float] = {}
    replacement: dict[str, Tensor] = {}

    def swap(_module: nn.Module, _inputs: Any, _output: Tensor) -> Tensor:
        return replacement["value"]

    handle = embedding.register_forward_hook(swap)
    try:
        for start in range(0, steps + 1, batch_size):
            a = alphas[start:start + batch_size]
            n = a.shape[0]
            points = (x_base + a[:, None, None] * (x - x_base)).detach().requires_grad_(True)  # (n, T, d)
            replacement["value"] = points
            logits = model(input_ids.expand(n, -1)).logits
            f = _score(logits, target).float()  # (n,)
            (grad,) = torch.autograd.grad(f.sum(), points)
            total += (weights[start:start + n, None, None] * grad.float()).sum(dim=0)
            for i in range(n):
                if start + i in (0, steps):
                    ends[start + i] = float(f[i].detach())
    finally:
        handle.remove()
    return total, ends[steps], ends[0]


# --------------------------------------------------------------------------- output


def _color(score: float, scale: float) -> str:
    """Red for positive, blue for negative, white for none."""
    v = max(-1.0, min(1.0, score / scale)) if scale > 0 else 0.0
    fade = int(255 * (1 - abs(v)))
    return f"rgb(255,{fade},{fade})" if v >= 0 else f"rgb({fade},{fade},255)"


def to_html(attr: Attribution) -> str:
    """A self-contained HTML strip: each token on a background colored by its score."""
    scale = max((abs(s) for s in attr.scores), default=0.0)
    spans = "".join(
        f'<span title="{s:+.4f}" style="background:{_color(s, scale)};padding:2px 1px;'
        f'margin:1px;border-radius:3px;display:inline-block">{html.escape(t)}</span>'
        for t, s in zip(attr.tokens, attr.scores, strict=True)
    )
    head = (f"target <b>{html.escape(attr.target_label)}</b> (id {attr.target}); "
            f"f(x) = {attr.score:.4f}, f(baseline) = {attr.baseline_score:.4f}, "
            f"Σ attributions = {sum(attr.scores):.4f} (gap {attr.delta:+.2e}, {attr.steps} steps, "
            f"{attr.baseline} baseline)")
    notes = "".join(f"<p><i>{html.escape(n)}</i></p>" for n in attr.notices)
    return ("<!doctype html><html><head><meta charset='utf-8'><title>integrated gradients</title>"
            "</head><body style='font-family:sans-serif;line-height:2'>"
            f"<p>{head}</p>{notes}<div>{spans}</div>"
            "<p style='font-size:small'>red: pushes toward the target; blue: away</p></body></html>\n")


def save_attribution(attr: Attribution, path: str | Path) -> Path:
    """Write .json, .html (self-contained) or .png, chosen by the suffix."""
    from ..fileio import atomic_write_text, save_figure

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return atomic_write_text(path, json.dumps(attr.to_dict(), ensure_ascii=False, indent=1) + "\n")
    if suffix in (".html", ".htm"):
        return atomic_write_text(path, to_html(attr))
    if suffix != ".png":
        raise BigModelError(f"attribution output must end in .json, .html or .png, got {path.name!r}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    scale = max((abs(s) for s in attr.scores), default=1.0) or 1.0
    n = len(attr.tokens)
    per_row = max(1, min(16, n))
    rows = (n + per_row - 1) // per_row
    fig, ax = plt.subplots(figsize=(min(16, 1.0 * min(n, per_row)) + 1, 0.6 * rows + 0.8))
    grid = torch.full((rows, per_row), float("nan"))
    grid.view(-1)[:n] = torch.tensor(attr.scores)
    ax.imshow(grid.numpy(), cmap="bwr", norm=TwoSlopeNorm(0.0, -scale, scale), aspect="auto")
    for i, token in enumerate(attr.tokens):
        ax.text(i % per_row, i // per_row, token, ha="center", va="center", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"integrated gradients for {attr.target_label!r}  (Σ = {sum(attr.scores):.3f}, "
                 f"f(x) − f(x') = {attr.score - attr.baseline_score:.3f})", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return path
