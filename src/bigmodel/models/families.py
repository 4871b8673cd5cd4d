"""The one family registry: every model family says once what bigmodel needs to know about it.

A family module next to its model (``gpt_family.py`` beside ``gpt.py``, timm's
``register_model`` pattern) builds one :class:`FamilyMap` (its presets, its Hugging Face weight
and config tables, the shape the planner reads) and hands it to :func:`register_family`. The
presets (registry.py, hub.py), the checkpoint converter (convert.py) and the planner
(planning/) look a family up here and ask it; none of them names a family. A new family is one
new module calling ``register_family``, nothing else to edit.

No torch here, nor in the family modules at import time: ``bigmodel models`` and the planner
read presets and shapes without it (the classes and config classes are imported lazily).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, SimpleNamespace
from typing import TYPE_CHECKING, Any

from ..errors import BigModelError

if TYPE_CHECKING:
    from .base import BigModel, ConfigBase
    from .shapes import ModelShape

# Models trained by this project: bigmodel/assets/models/NAME (config.json + weights).
SHIPPED_DIR = Path(__file__).parent.parent / "assets" / "models"

# The families bigmodel ships, loaded on the first lookup (modules of this package).
BUILTIN_FAMILY_MODULES = (
    "gpt_family",
    "bert_family",
    "transformer_family",
    "resnet_family",
    "detection_family",
)

# FamilyMap.companion: the files saved beside a model's weights.
TOKENIZER = "tokenizer"
IMAGE_PREPROCESSOR = "image_preprocessor"

# An HF module path -> ours; ``{i}`` stands for a layer number. A tuple on the HF side is
# concatenated along dim 0 into our one tensor (see convert.py).
Rule = tuple[str | tuple[str, ...], str]


@dataclass(frozen=True)
class Preset:
    """A named model: a config, where the weights come from, which tokenizer goes with it."""

    name: str
    family: str  # the FamilyMap.family that builds it
    architecture: str  # the HF / bigmodel class name
    config: dict[str, Any] = field(default_factory=dict)
    weights: str = ""  # "hub:ID", "package:MODULE/SUBDIR", "shipped:NAME", "" = none
    tokenizer: str | None = None
    description: str = ""


@dataclass(frozen=True)
class FamilyMap:
    """Everything bigmodel knows about one family: how its checkpoints look in HF layout,
    which classes it builds, its presets and the shape the planner reads from a config."""

    family: str
    hf_model_type: str
    body_prefix: str  # HF and ours, in head models ("transformer.", "bert.", "resnet.")
    body_rules: tuple[Rule, ...]
    head_rules: tuple[Rule, ...]
    # architecture name -> bigmodel class (imported lazily: the classes need torch); the
    # first one is the family's default
    architectures: dict[str, Callable[[], type[BigModel]]]
    config_to_hf: Callable[[ConfigBase], dict[str, Any]]
    config_from_hf: Callable[[dict[str, Any]], ConfigBase]
    transposed: tuple[str, ...] = ()  # HF key suffixes stored transposed
    ignored: tuple[str, ...] = ()  # regexes of HF keys that carry no weights (buffers)
    tied: tuple[str, ...] = ()  # our keys that share storage with another parameter
    renames: tuple[tuple[str, str], ...] = ()  # legacy HF names -> today's, on load
    saved_renames: tuple[tuple[str, str], ...] = ()  # HF keys renamed after the rules, on save
    presets: tuple[Preset, ...] = ()
    # (name, architecture, config) -> the planner's ModelShape; None: the formulas do not
    # cover the family (the catalog then counts its weights)
    shape: Callable[[str, str, Any], ModelShape] | None = None
    # the config class's defaults the shape reads, for configs given as plain dicts
    config_defaults: Mapping[str, Any] = field(default_factory=dict)
    # What the tasks and tools ask of a family instead of testing its name:
    causal: bool = False  # a decoder-only LM: position t attends to positions <= t only
    reads_token_type_ids: bool = False  # its forward takes segment ids (sentence A / B)
    sequence_classifier: str = ""  # the architecture of its text classifier ("" = none)
    # what a saved folder carries beside the weights: TOKENIZER, IMAGE_PREPROCESSOR or ""
    companion: str = ""
    # config -> why transformers cannot load it as saved (None: it always can)
    transformers_limits: Callable[[Any], list[str]] | None = None

    @property
    def default_architecture(self) -> str:
        return next(iter(self.architectures))

    def config_class(self) -> type[ConfigBase]:
        return self.architectures[self.default_architecture]().config_class

    def config_view(self, values: Mapping[str, Any]) -> SimpleNamespace:
        """A config given as a dict, over ``config_defaults``, as ``shape`` reads it (no torch)."""
        merged = dict(self.config_defaults) | dict(values)
        if merged.get("id2label"):
            merged["num_labels"] = len(merged["id2label"])
        return SimpleNamespace(**merged)


_FAMILIES: dict[str, FamilyMap] = {}
_PRESETS: dict[str, Preset] = {}
# Read-only views that follow every registration.
FAMILIES: Mapping[str, FamilyMap] = MappingProxyType(_FAMILIES)
PRESETS: Mapping[str, Preset] = MappingProxyType(_PRESETS)
_builtin_loaded = False


def register_family(family_map: FamilyMap) -> FamilyMap:
    """Make a family loadable, savable, listable and plannable; its presets join the list
    (a shipped one only when its folder is present)."""
    for preset in family_map.presets:
        if preset.family != family_map.family:
            raise BigModelError(
                f"preset {preset.name!r} says family {preset.family!r} but is "
                f"registered with {family_map.family!r}"
            )
    _FAMILIES[family_map.family] = family_map
    for preset in family_map.presets:
        add_preset(preset)
    return family_map


def add_preset(preset: Preset) -> Preset:
    """One more named model of a registered family (a shipped one only if its folder exists)."""
    kind, _, where = preset.weights.partition(":")
    if kind == "shipped" and not (SHIPPED_DIR / where / "config.json").is_file():
        return preset
    _PRESETS[preset.name] = preset
    return preset


def _load_builtin() -> None:
    global _builtin_loaded
    if not _builtin_loaded:
        _builtin_loaded = True
        for module in BUILTIN_FAMILY_MODULES:
            importlib.import_module(f"{__package__}.{module}")


def family_maps() -> list[FamilyMap]:
    _load_builtin()
    return list(_FAMILIES.values())


def all_presets() -> Mapping[str, Preset]:
    _load_builtin()
    return PRESETS


def family_named(name: str) -> FamilyMap:
    _load_builtin()
    if name not in _FAMILIES:
        raise BigModelError(
            f"no model family {name!r}; bigmodel knows {', '.join(sorted(_FAMILIES))}"
        )
    return _FAMILIES[name]


def family_for_model_type(model_type: str) -> FamilyMap:
    """The family whose config.json carries ``model_type`` ("gpt2", "bert", ...)."""
    for family_map in family_maps():
        if family_map.hf_model_type == model_type:
            return family_map
    known = ", ".join(sorted(m.hf_model_type for m in _FAMILIES.values()))
    raise BigModelError(f"config.json has model_type {model_type!r}; bigmodel reads {known}")


def family_of(model: Any) -> FamilyMap | None:
    """The registered family of ``model`` (its ``family`` attribute), or None for a module
    that is no registered family's."""
    _load_builtin()
    return _FAMILIES.get(getattr(model, "family", None) or "")


def family_for_model(model: BigModel) -> FamilyMap:
    _load_builtin()
    if model.family not in _FAMILIES:
        raise BigModelError(f"no Hugging Face weight map for family {model.family!r}")
    return _FAMILIES[model.family]


def id2label_from_hf(hf: dict[str, Any]) -> dict[int, str] | None:
    """config.json's ``id2label`` with integer keys, or None."""
    labels = hf.get("id2label")
    if not labels:
        return None
    return {int(k): str(v) for k, v in labels.items()}


def labels_to_hf(config: Any) -> dict[str, Any]:
    """``id2label`` / ``label2id`` as transformers writes them (empty without labels)."""
    if config.id2label is None:
        return {}
    return {
        "id2label": {str(k): v for k, v in config.id2label.items()},
        "label2id": {v: int(k) for k, v in config.id2label.items()},
    }


def lazy_classes(module: str, names: dict[str, str]) -> dict[str, Callable[[], type[BigModel]]]:
    """architecture -> a loader of ``bigmodel.models.MODULE.CLASS``, imported on first use."""

    def loader(class_name: str) -> Callable[[], type[BigModel]]:
        def get() -> type[BigModel]:
            return getattr(importlib.import_module(f"{__package__}.{module}"), class_name)

        return get

    return {architecture: loader(class_name) for architecture, class_name in names.items()}


__all__ = [
    "FAMILIES",
    "IMAGE_PREPROCESSOR",
    "PRESETS",
    "SHIPPED_DIR",
    "TOKENIZER",
    "FamilyMap",
    "Preset",
    "Rule",
    "add_preset",
    "all_presets",
    "family_for_model",
    "family_for_model_type",
    "family_maps",
    "family_of",
    "family_named",
    "register_family",
]
