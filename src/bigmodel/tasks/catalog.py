"""What models there are: presets with their parameter counts."""

from __future__ import annotations

from typing import Any

import torch

from ..registry import PRESETS


def count_parameters(name: str) -> int:
    """Parameters of a preset, counted on the meta device (no memory, no weights needed)."""
    from ..hub import create

    with torch.device("meta"):
        model = create(name)
    return model.num_parameters()


def list_models() -> list[dict[str, Any]]:
    rows = []
    for name in sorted(PRESETS):
        preset = PRESETS[name]
        rows.append(
            {
                "name": name,
                "family": preset.family,
                "architecture": preset.architecture,
                "parameters": count_parameters(name),
                "weights": preset.weights.partition(":")[0] or "none",
                "description": preset.description,
            }
        )
    return rows
