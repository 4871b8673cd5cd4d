"""A run's figures: ``metrics.jsonl`` (one JSON row per logged step and evaluation) and the
loss curve ``loss.png`` drawn from it at the end."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from ..fileio import atomic_write_text

METRICS_FILE = "metrics.jsonl"
CURVE_FILE = "loss.png"


class MetricsLog:
    """The rows logged so far (``rows``), appended to ``out_dir/metrics.jsonl`` as they come."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.rows: list[dict[str, Any]] = []

    @property
    def path(self) -> Path:
        return self.out_dir / METRICS_FILE

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    def keep_until(self, step: int) -> None:
        """Keep the rows up to ``step`` (a resumed run continues the same file)."""
        rows: list[dict[str, Any]] = []
        if self.path.is_file() and step > 0:
            for line in self.path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(json.JSONDecodeError):
                    row = json.loads(line)
                    if row.get("step", 0) <= step:
                        rows.append(row)
        self.rows = rows
        atomic_write_text(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    def plot(self) -> None:
        """``loss.png``: the train loss per step, with the validation loss where evaluated."""
        from .curves import plot_losses

        train = [(r["step"], r["loss"]) for r in self.rows if r.get("split") == "train"]
        val = [(r["step"], r["loss"]) for r in self.rows if r.get("split") == "validation" and "loss" in r]
        if train:
            plot_losses(self.out_dir / CURVE_FILE, train, val, title=f"{self.out_dir.name}: loss")


__all__ = ["CURVE_FILE", "METRICS_FILE", "MetricsLog"]
