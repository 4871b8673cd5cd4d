"""The ResNet family (resnet.py): its presets, the HF and torchvision layouts, its planner shape.

transformers' ResNetForImageClassification: resnet.embedder.embedder.{convolution,
normalization}, resnet.encoder.stages.S.layers.B.{layer.K, shortcut}.{convolution,
normalization}, classifier.1 (a Linear inside Sequential(Flatten, Linear)). Ours:
resnet.stem.{conv,bn}, resnet.stages.S.B.{convK,bnK, shortcut.conv, shortcut.bn},
classifier. A rule holds one {i}, so the stage number is written out, one rule set per
stage. torchvision's names (conv1, bn1, layerN.B.convK, layerN.B.downsample.{0,1}, fc)
come after HF's: they are read on load, and saving always writes HF's names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import BigModelError
from .families import (
    IMAGE_PREPROCESSOR,
    FamilyMap,
    Preset,
    Rule,
    id2label_from_hf,
    labels_to_hf,
    lazy_classes,
    register_family,
)
from .shapes import ModelShape, linear_params

if TYPE_CHECKING:
    from .base import ConfigBase

MAX_STAGES = 8  # the weight map names stages 0..MAX_STAGES-1


def _basic(depths: tuple[int, ...]) -> dict:
    return dict(block="basic", hidden_sizes=(64, 128, 256, 512), depths=depths)


def _bottleneck(depths: tuple[int, ...]) -> dict:
    return dict(block="bottleneck", hidden_sizes=(256, 512, 1024, 2048), depths=depths)


RESNET_PRESETS: dict[str, dict] = {
    "resnet18": _basic((2, 2, 2, 2)),
    "resnet34": _basic((3, 4, 6, 3)),
    "resnet50": _bottleneck((3, 4, 6, 3)),
    "resnet101": _bottleneck((3, 4, 23, 3)),
    "resnet152": _bottleneck((3, 8, 36, 3)),
}

PRESETS = tuple(
    Preset(
        name,
        "resnet",
        "ResNetForImageClassification",
        cfg | {"num_labels": 1000},
        f"hub:microsoft/resnet-{name.removeprefix('resnet')}",
        None,
        f"Microsoft ResNet-{name.removeprefix('resnet')} ImageNet classifier, weights from the "
        f"Hugging Face cache",
    )
    for name, cfg in RESNET_PRESETS.items()
) + (
    Preset(
        "tiny-resnet-digits",
        "resnet",
        "ResNetForImageClassification",
        weights="shipped:tiny-resnet-digits",
        description="small-stem ResNet (300k parameters) trained by configs/resnet-digits.toml on "
        "scikit-learn's 8×8 digits; 99.3% on the held-out 30%",
    ),
)

# ResNetConfig's defaults the shape reads.
CONFIG_DEFAULTS: dict[str, Any] = dict(
    num_channels=3,
    embedding_size=64,
    hidden_sizes=(256, 512, 1024, 2048),
    depths=(3, 4, 6, 3),
    block="bottleneck",
    stem="imagenet",
    downsample_in_first_stage=False,
    downsample_in_bottleneck=False,
    num_labels=1000,
)


def _body_rules() -> tuple[Rule, ...]:
    hf: list[Rule] = [
        ("embedder.embedder.convolution", "stem.conv"),
        ("embedder.embedder.normalization", "stem.bn"),
    ]
    torchvision: list[Rule] = [("conv1", "stem.conv"), ("bn1", "stem.bn")]
    for s in range(MAX_STAGES):
        hf_block, tv_block, block = (
            f"encoder.stages.{s}.layers.{{i}}",
            f"layer{s + 1}.{{i}}",
            f"stages.{s}.{{i}}",
        )
        for k in range(3):
            hf.append((f"{hf_block}.layer.{k}.convolution", f"{block}.conv{k + 1}"))
            hf.append((f"{hf_block}.layer.{k}.normalization", f"{block}.bn{k + 1}"))
            torchvision.append((f"{tv_block}.conv{k + 1}", f"{block}.conv{k + 1}"))
            torchvision.append((f"{tv_block}.bn{k + 1}", f"{block}.bn{k + 1}"))
        hf.append((f"{hf_block}.shortcut.convolution", f"{block}.shortcut.conv"))
        hf.append((f"{hf_block}.shortcut.normalization", f"{block}.shortcut.bn"))
        torchvision.append((f"{tv_block}.downsample.0", f"{block}.shortcut.conv"))
        torchvision.append((f"{tv_block}.downsample.1", f"{block}.shortcut.bn"))
    return tuple(hf + torchvision)


def _config_to_hf(config: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model_type": "resnet",
        "num_channels": config.num_channels,
        "embedding_size": config.embedding_size,
        "hidden_sizes": list(config.hidden_sizes),
        "depths": list(config.depths),
        "layer_type": config.block,
        "hidden_act": "relu",
        "downsample_in_first_stage": config.downsample_in_first_stage,
        "downsample_in_bottleneck": config.downsample_in_bottleneck,
        "num_labels": config.num_labels,
    }
    if config.stem != "imagenet":
        # transformers has no such stem: its 7×7 embedder will refuse these 3×3 weights.
        out["stem"] = config.stem
    return out | labels_to_hf(config)


def _config_from_hf(hf: dict[str, Any]) -> ConfigBase:
    from .resnet import ResNetConfig

    act = hf.get("hidden_act", "relu")
    if act != "relu":
        raise BigModelError(f"config.json sets hidden_act={act!r}; bigmodel's ResNet uses 'relu'")
    labels = id2label_from_hf(hf)
    ours = (hf.get("bigmodel") or {}).get("config") or {}
    return ResNetConfig(
        num_channels=hf.get("num_channels", 3),
        embedding_size=hf.get("embedding_size", 64),
        hidden_sizes=tuple(hf.get("hidden_sizes", (256, 512, 1024, 2048))),
        depths=tuple(hf.get("depths", (3, 4, 6, 3))),
        block=hf.get("layer_type", "bottleneck"),
        stem=hf.get("stem", "imagenet"),
        downsample_in_first_stage=bool(hf.get("downsample_in_first_stage", False)),
        downsample_in_bottleneck=bool(hf.get("downsample_in_bottleneck", False)),
        id2label=labels,
        num_labels=len(labels) if labels else hf.get("num_labels", 2),
        classifier_dropout=ours.get("classifier_dropout", 0.0),
        zero_init_residual=ours.get("zero_init_residual", False),
    )


class _ConvCounter:
    """Running totals of a walk over the convolutions (each followed by a BatchNorm)."""

    def __init__(self) -> None:
        self.params = self.macs = self.acts = self.largest = 0

    def conv(self, cin: int, cout: int, k: int, out_hw: int) -> None:
        """A k×k conv c_in -> c_out: c_in·c_out·k² weights (no bias) + BatchNorm 2·c_out;
        on an h×w output map, c_in·c_out·k²·h·w multiply-adds."""
        self.params += cin * cout * k * k + 2 * cout
        self.macs += cin * cout * k * k * out_hw * out_hw
        self.acts += 2 * cout * out_hw * out_hw  # conv output (BN saves it) and BN/ReLU output
        self.largest = max(self.largest, cout * out_hw * out_hw)


def _block(walk: _ConvCounter, c: Any, cin: int, width: int, hw: int, stride: int) -> int:
    """One residual block; returns its output size."""
    out_hw = (hw + stride - 1) // stride
    if c.block == "bottleneck":
        inner = width // 4
        walk.conv(cin, inner, 1, out_hw if c.downsample_in_bottleneck else hw)
        walk.conv(inner, inner, 3, out_hw)
        walk.conv(inner, width, 1, out_hw)
    else:
        walk.conv(cin, width, 3, out_hw)
        walk.conv(width, width, 3, out_hw)
    if cin != width or stride != 1:
        walk.conv(cin, width, 1, out_hw)
    return out_hw


def resnet_shape(name: str, architecture: str, c: Any, image_size: int | None = None) -> ModelShape:
    """ResNet (He et al. 2016): parameters, MACs and activations by walking the layout."""
    small = c.stem == "small"
    size = image_size or (32 if small else 224)
    walk = _ConvCounter()
    hw = size if small else (size + 1) // 2
    walk.conv(c.num_channels, c.embedding_size, 3 if small else 7, hw)
    if not small:
        hw = (hw + 1) // 2  # 3×3 max-pool, stride 2
    cin = c.embedding_size
    for stage, (width, depth) in enumerate(zip(c.hidden_sizes, c.depths, strict=True)):
        for i in range(depth):
            stride = 2 if i == 0 and (stage > 0 or c.downsample_in_first_stage) else 1
            hw = _block(walk, c, cin, width, hw, stride)
            cin = width
    head = linear_params(cin, c.num_labels) if architecture != "ResNetModel" else 0
    # The model-card count of a ResNet includes its classifier: it is the backbone here.
    return ModelShape(
        name,
        "resnet",
        architecture,
        c,
        [],
        0,
        0,
        0.0,
        0.0,
        walk.params + head,
        0,
        0,
        0,
        image_size=size,
        conv_macs_per_image=walk.macs + head,
        conv_activation_elems=walk.acts,
        largest_map_elems=walk.largest,
    )


def _transformers_limits(config: Any) -> list[str]:
    if getattr(config, "stem", "imagenet") == "imagenet":
        return []
    return [
        f"the {config.stem!r} ResNet stem (3x3 conv, no max-pool) has no "
        f"transformers equivalent: its ResNet embedder is a 7x7 conv + max-pool"
    ]


RESNET_MAP = register_family(
    FamilyMap(
        family="resnet",
        hf_model_type="resnet",
        body_prefix="resnet.",
        body_rules=_body_rules(),
        head_rules=(("classifier.1", "classifier"), ("fc", "classifier")),
        architectures=lazy_classes(
            "resnet", {name: name for name in ("ResNetForImageClassification", "ResNetModel")}
        ),
        config_to_hf=_config_to_hf,
        config_from_hf=_config_from_hf,
        presets=PRESETS,
        shape=resnet_shape,
        config_defaults=CONFIG_DEFAULTS,
        companion=IMAGE_PREPROCESSOR,
        transformers_limits=_transformers_limits,
    )
)
