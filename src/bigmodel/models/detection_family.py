"""The detector family (detection.py): its shipped model and its checkpoint layout.

bigmodel's own CenterNet-style detector is no transformers class: like the Transformer, it
keeps its own names under model_type "bigmodel-detector". The planner's formulas do not
cover it (no ``shape``): the catalog counts the weights in its file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .families import FamilyMap, Preset, labels_to_hf, lazy_classes, register_family

if TYPE_CHECKING:
    from .base import ConfigBase


def _config_to_hf(config: Any) -> dict[str, Any]:
    own = {k: v for k, v in config.to_dict().items() if k != "extra"}
    return {"model_type": "bigmodel-detector"} | own | labels_to_hf(config)


def _config_from_hf(hf: dict[str, Any]) -> ConfigBase:
    from .detection import DetectorConfig

    names = DetectorConfig.field_names()
    return DetectorConfig.from_dict({k: v for k, v in hf.items() if k in names})


DETECTOR_MAP = register_family(
    FamilyMap(
        family="detection",
        hf_model_type="bigmodel-detector",
        body_prefix="",
        body_rules=tuple(
            (name, name)
            for name in ("backbone", "neck", "heatmap_head", "size_head", "offset_head")
        ),
        head_rules=(),
        architectures=lazy_classes("detection", {"BigModelDetector": "ResNetDetector"}),
        config_to_hf=_config_to_hf,
        config_from_hf=_config_from_hf,
        presets=(
            Preset(
                "tiny-detector-digits",
                "detection",
                "BigModelDetector",
                weights="shipped:tiny-detector-digits",
                description="CenterNet-style detector on a small ResNet, trained by "
                "configs/detector-digits.toml to find scikit-learn's digits scattered on "
                "64×64 canvases",
            ),
        ),
    )
)
