"""The loss curves of a run as a PNG (matplotlib): training and validation loss per step.

Training loss is a line, validation loss dots joined by a line; the axes are titled
(step, loss), a legend names the curves, and a log-scaled y axis is used when the loss falls
by more than a factor of 10 (the first steps would otherwise flatten the rest).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ..fileio import atomic_write

Points = Sequence[tuple[float, float]]


def _finite(points: Points) -> list[tuple[float, float]]:
    return [(s, v) for s, v in points if math.isfinite(v)]


def loss_figure(train: Points, validation: Points = (), title: str = "Loss") -> object:
    """A matplotlib Figure of the curves; points are (step, loss)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in any thread

    fig = Figure(figsize=(7.2, 4.2), dpi=100)
    ax = fig.add_subplot()
    train, validation = _finite(train), _finite(validation)
    if train:
        ax.plot(*zip(*train, strict=True), color="tab:blue", linewidth=1.5, label="training loss")
    if validation:
        ax.plot(*zip(*validation, strict=True), color="tab:orange", marker="o", markersize=4,
                linewidth=1.5, label="validation loss")
    losses = [v for _, v in train + validation]
    if losses and min(losses) > 0 and max(losses) / min(losses) > 10:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if train or validation:
        ax.legend()
    fig.tight_layout()
    return fig


def plot_losses(path: str | Path, train: Points, validation: Points = (), title: str = "Loss") -> Path:
    """Write the curves as a PNG at ``path`` (atomically)."""
    fig = loss_figure(train, validation, title)
    return atomic_write(path, lambda p: fig.savefig(p, format="png"))  # type: ignore[attr-defined]


__all__ = ["loss_figure", "plot_losses"]
