"""Logit lens (nostalgebraist 2020): what a GPT would predict if it stopped after layer l.

The residual stream after layer l, h_l (T, d), is read out the way the last layer is::

    logits_l = LayerNorm_final(h_l) · Eᵀ          (T, V)

so each layer's top tokens show how the prediction forms through depth. The last layer's
lens is exactly the model's own output (the final LayerNorm is already applied there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import BigModelError
from ..models.base import BigModel
from ..models.families import family_of
from .attention import _encode, token_strings

__all__ = ["LogitLens", "lens_logits", "logit_lens", "save_logit_lens"]


@dataclass
class LogitLens:
    tokens: list[str]
    layers: list[str]  # "embeddings", "layer 1", ..., "layer L"
    top_tokens: list[list[list[str]]]  # [layer][position][k]
    top_ids: list[list[list[int]]]
    top_probs: list[list[list[float]]]
    notices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def table(self, positions: int = 8) -> str:
        """Top-1 token per layer (rows) for the last ``positions`` positions (columns)."""
        cols = list(range(max(0, len(self.tokens) - positions), len(self.tokens)))
        cells = [[self.tokens[c] for c in cols]]
        cells += [[f"{self.top_tokens[li][c][0]} {self.top_probs[li][c][0]:.2f}" for c in cols]
                  for li in range(len(self.layers))]
        labels = ["input", *self.layers]
        width = [max(len(row[j]) for row in cells) for j in range(len(cols))]
        lw = max(len(x) for x in labels)
        lines = [labels[i].ljust(lw) + "  " + "  ".join(c.ljust(w) for c, w in zip(row, width, strict=True))
                 for i, row in enumerate(cells)]
        return "\n".join(lines)


def _gpt_parts(model: BigModel) -> tuple[Any, Any]:
    body = getattr(model, "transformer", None)
    head = getattr(model, "lm_head", None)
    family = family_of(model)
    if family is None or not family.causal or body is None or head is None:
        raise BigModelError(f"the logit lens reads a GPT language model; got {type(model).__name__}")
    return body, head


def lens_logits(model: BigModel, input_ids: Tensor) -> Tensor:
    """(n_layers + 1, B, T, V): the readout after the embeddings and after every block."""
    body, head = _gpt_parts(model)
    out = model(input_ids, output_hidden_states=True)
    hidden = out.hidden_states
    # hidden[-1] already went through the final LayerNorm (see GPTModel.forward).
    normed = [body.final_norm(h) for h in hidden[:-1]] + [hidden[-1]]
    return torch.stack([head(h) for h in normed])


def logit_lens(
    model: BigModel,
    text: str | list[int] | Tensor,
    tokenizer: Any = None,
    *,
    top_k: int = 5,
    max_tokens: int | None = 256,
) -> LogitLens:
    """Top-k next tokens and probabilities at every layer and position of ``text``."""
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise BigModelError(f"top_k must be a positive integer, got {top_k!r}")
    _gpt_parts(model)
    notices: list[str] = []
    context = model.config.max_seq_len
    ids = _encode(tokenizer, text, min(max_tokens or context, context), notices)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = lens_logits(model, torch.tensor([ids], device=model.device))[:, 0]  # (L+1, T, V)
    finally:
        model.train(was_training)
    probs = torch.softmax(logits.float(), dim=-1)
    top = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    top_ids = top.indices.tolist()
    vocab_tokens = {i: token_strings(tokenizer, [i])[0] for i in set(top.indices.reshape(-1).tolist())}
    names = ["embeddings"] + [f"layer {i}" for i in range(1, logits.shape[0])]
    return LogitLens(
        token_strings(tokenizer, ids), names,
        [[[vocab_tokens[i] for i in pos] for pos in layer] for layer in top_ids],
        top_ids, torch.round(top.values, decimals=4).tolist(), notices,
    )


def save_logit_lens(lens: LogitLens, path: str | Path) -> Path:
    """.json (all top-k), .txt (the table) or .png (top-1 grid colored by probability)."""
    from ..fileio import atomic_write_text, save_figure

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return atomic_write_text(path, json.dumps(lens.to_dict(), ensure_ascii=False) + "\n")
    if suffix == ".txt":
        return atomic_write_text(path, lens.table(positions=len(lens.tokens)) + "\n")
    if suffix != ".png":
        raise BigModelError(f"logit-lens output must end in .json, .txt or .png, got {path.name!r}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = list(range(max(0, len(lens.tokens) - 24), len(lens.tokens)))
    grid = torch.tensor([[lens.top_probs[li][c][0] for c in cols] for li in range(len(lens.layers))])
    fig, ax = plt.subplots(figsize=(1.0 * len(cols) + 2, 0.35 * len(lens.layers) + 1.5))
    ax.imshow(grid.numpy(), cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    for li in range(len(lens.layers)):
        for j, c in enumerate(cols):
            ax.text(j, li, lens.top_tokens[li][c][0], ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(cols)), [lens.tokens[c] for c in cols], rotation=90, fontsize=7)
    ax.set_yticks(range(len(lens.layers)), lens.layers, fontsize=7)
    ax.set_title("logit lens: top next token per layer (shade = probability)", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return path
