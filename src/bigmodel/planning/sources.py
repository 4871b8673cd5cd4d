"""What the planner reads a model from: a preset, a local folder, a config or a model object.

No weights are read and no model is built: the family (models/families.py) turns a config
into a :class:`~bigmodel.models.shapes.ModelShape`. A preset's config dict is read over the
family's defaults without importing torch; a folder's config.json goes through the family's
config class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import BigModelError, did_you_mean
from ..models.families import FamilyMap, family_for_model_type, family_named
from ..models.shapes import ModelShape


def shape_from_config(name: str, family: str, architecture: str, config: Any) -> ModelShape:
    """The shape of ``architecture`` of ``family`` under ``config`` (a config or a namespace)."""
    return _shaper(family_named(family))(name, architecture, config)


def _shaper(family_map: FamilyMap) -> Any:
    if family_map.shape is None:
        raise BigModelError(f"the planner has no formulas for the {family_map.family} family")
    return family_map.shape


def model_shape(model: Any) -> ModelShape:
    """Read a preset name, a local Hugging Face folder, or a config object, never weights."""
    if isinstance(model, (str, Path)):
        return _shape_of_name(model)
    from ..models.base import BigModel, ConfigBase

    if isinstance(model, BigModel):
        return shape_from_config(
            getattr(model, "name_or_path", type(model).__name__),
            model.family,
            model.architecture,
            model.config,
        )
    if isinstance(model, ConfigBase):
        family_map = family_for_model_type(type(model).model_type)
        return _shaper(family_map)(type(model).__name__, family_map.default_architecture, model)
    raise BigModelError(f"model must be a preset name or a model folder, got {model!r}")


def _shape_of_name(model: str | Path) -> ModelShape:
    from ..registry import PRESETS, local_weights_dir

    name = str(model)
    if not name.strip():
        raise BigModelError(f"model must be a preset name or a model folder, got {model!r}")
    path = Path(name).expanduser()
    if path.is_dir():
        return _shape_from_folder(name, path)
    preset = PRESETS.get(name)
    if preset is None:
        if "/" in name and not path.exists():
            from ..hub import resolve_model_dir

            return _shape_from_folder(name, resolve_model_dir(name))
        raise BigModelError(
            f"unknown model {name!r}{did_you_mean(name, sorted(PRESETS))}; "
            f"give a preset (`bigmodel models` lists them) or a model folder"
        )
    family_map = family_named(preset.family)
    shaper = _shaper(family_map)
    if not preset.config and preset.weights.startswith(("shipped:", "package:")):
        return _shape_from_folder(name, local_weights_dir(preset), preset.architecture)
    if family_map.config_defaults:
        config: Any = family_map.config_view(preset.config)
    else:
        config = family_map.config_class().from_dict(preset.config)
    return shaper(name, preset.architecture, config)


def _shape_from_folder(name: str, folder: Path, architecture: str | None = None) -> ModelShape:
    from ..hub import read_config

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
    arch = architecture or (hf.get("architectures") or [family_map.default_architecture])[0]
    return _shaper(family_map)(name, arch, config)


__all__ = ["model_shape", "shape_from_config"]
