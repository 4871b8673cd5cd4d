"""What models there are: presets with their parameter counts.

The counts follow from the configs by each family's shape (``FamilyMap.shape``, the
planner's formulas), never from built weights, and without importing torch, so `bigmodel
models` answers at once. A shipped model's config is the ``bigmodel`` block of its
config.json; a hub preset's is its preset dict over the family's ``config_defaults`` (the
config classes' defaults; tests/tasks/test_catalog.py checks every count against a model built
on the meta device).
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..fileio import read_json_object
from ..models.families import family_named
from ..registry import PRESETS, Preset, local_weights_dir


def preset_config(preset: Preset) -> dict[str, Any] | None:
    """The preset's full config as a dict, read from files only; None when it has no file
    and its family has no defaults (``FamilyMap.config_defaults``)."""
    defaults = family_named(preset.family).config_defaults
    if preset.weights.startswith(("shipped:", "package:")) and not preset.config:
        folder = local_weights_dir(preset)
        saved = read_json_object(folder / "config.json", "model config")
        ours = (saved.get("bigmodel") or {}).get("config")
        if ours:
            return dict(defaults) | ours
        return None
    if not defaults:
        return None
    return dict(defaults) | preset.config


# State-dict entries that are buffers, not parameters (BatchNorm statistics).
BUFFER_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")


def count_parameters(name: str) -> int:
    """Parameters of a preset (a tied embedding counts once), from its config alone; for a
    shipped model of a family the formulas do not cover, from its weight file's header."""
    preset = PRESETS[name]
    family_map = family_named(preset.family)
    config = preset_config(preset)
    if config is not None and family_map.shape is not None:
        shape = family_map.shape(name, preset.architecture, family_map.config_view(config))
        return shape.backbone_params + shape.head_params
    folder = local_weights_dir(preset)
    if folder is not None and (folder / "model.safetensors").is_file():
        return _count_in_header(folder / "model.safetensors")
    return _count_on_meta(name)


def _count_in_header(path: Any) -> int:
    """Elements of the parameters listed in a safetensors header (8-byte length + JSON), plus
    those a folder reads from its ``base_model`` (see hub.read_weights); no tensor is read."""
    from pathlib import Path

    path = Path(path)
    total = sum(_parameter_sizes(path).values())
    config_path = path.parent / "config.json"
    config = read_json_object(config_path, "model config") if config_path.is_file() else {}
    base, keys = config.get("base_model"), config.get("base_model_tensors") or []
    if isinstance(base, str) and keys:
        folder = local_weights_dir(PRESETS[base]) if base in PRESETS else Path(base)
        sizes = _parameter_sizes(folder / "model.safetensors")
        total += sum(sizes.get(key, sizes.get(key.split(".", 1)[-1], 0)) for key in keys)
    return total


def _parameter_sizes(path: Any) -> dict[str, int]:
    with open(path, "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(length))
    sizes = {}
    for key, entry in header.items():
        if key == "__metadata__" or key.endswith(BUFFER_SUFFIXES) or not entry["dtype"].startswith(("F", "BF")):
            continue  # integer entries (position ids) are buffers too
        sizes[key] = math.prod(entry["shape"])
    return sizes


def _count_on_meta(name: str) -> int:
    """A family the formulas do not cover: build it on the meta device (no memory)."""
    import torch

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
