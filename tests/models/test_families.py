"""One family registry: a family registered once is listed, built, saved, loaded and planned
without any edit to registry.py, hub.py, convert.py or planning/."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
import torch
from torch import Tensor, nn

import bigmodel.planning as planning
from bigmodel import hub, registry
from bigmodel.errors import BigModelError
from bigmodel.models import families
from bigmodel.models.base import BigModel, ConfigBase, ModelOutput
from bigmodel.models.families import FamilyMap, Preset, register_family
from bigmodel.models.shapes import ModelShape, linear_params
from bigmodel.tasks.catalog import count_parameters


@dataclass
class ToyConfig(ConfigBase):
    model_type: ClassVar[str] = "toy-mlp"

    image_size: int = 4
    d_hidden: int = 10
    n_layers: int = 2
    num_labels: int = 3


class ToyMLP(BigModel):
    """Flattened (B, 1, s, s) images through n_layers Linear+ReLU, then a classifier."""

    family = "toy"
    architecture = "ToyMLP"
    config_class = ToyConfig

    def __init__(self, config: ToyConfig) -> None:
        super().__init__(config)
        sizes = [config.image_size**2] + [config.d_hidden] * config.n_layers
        self.blocks = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:], strict=False))
        self.classifier = nn.Linear(config.d_hidden, config.num_labels)

    def forward(self, pixel_values: Tensor) -> ModelOutput:
        h = pixel_values.flatten(1)  # (B, s²)
        for block in self.blocks:
            h = torch.relu(block(h))
        return ModelOutput(logits=self.classifier(h))


def _toy_shape(name: str, architecture: str, c: Any) -> ModelShape:
    sizes = [c.image_size**2] + [c.d_hidden] * c.n_layers + [c.num_labels]
    weights = sum(linear_params(a, b) for a, b in zip(sizes, sizes[1:], strict=False))
    macs = sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))
    return ModelShape(
        name,
        "toy",
        architecture,
        c,
        backbone_params=weights,
        image_size=c.image_size,
        conv_macs_per_image=macs,
        conv_activation_elems=2 * c.d_hidden * c.n_layers,
        largest_map_elems=max(sizes),
    )


def _config_from_hf(hf: dict[str, Any]) -> ConfigBase:
    return ToyConfig.from_dict({k: v for k, v in hf.items() if k in ToyConfig.field_names()})


TOY = FamilyMap(
    family="toy",
    hf_model_type="toy-mlp",
    body_prefix="",
    # Its checkpoints name the layers "layers.N.dense" and the head "head".
    body_rules=(("layers.{i}.dense", "blocks.{i}"), ("head", "classifier")),
    head_rules=(),
    architectures={"ToyMLP": lambda: ToyMLP},
    config_to_hf=lambda config: (
        {"model_type": "toy-mlp"} | {k: v for k, v in config.to_dict().items() if k != "extra"}
    ),
    config_from_hf=_config_from_hf,
    presets=(Preset("toy-mlp-small", "toy", "ToyMLP", {"d_hidden": 12}, description="a toy"),),
    shape=_toy_shape,
)


@pytest.fixture
def toy_family():
    live = (families._FAMILIES, families._PRESETS)
    families.family_maps()  # the built-in families first, so that the restore keeps them
    saved = [dict(d) for d in live]
    register_family(TOY)
    yield TOY
    for d, copy in zip(live, saved, strict=True):
        d.clear()
        d.update(copy)


def test_a_registered_family_is_listed_built_saved_loaded_and_planned(toy_family, tmp_path) -> None:
    assert "toy-mlp-small" in registry.preset_names()
    model = hub.create("toy-mlp-small")
    assert isinstance(model, ToyMLP) and model.config.d_hidden == 12

    hub.save_model(model, tmp_path / "toy")
    saved = json.loads((tmp_path / "toy" / "config.json").read_text())
    assert saved["model_type"] == "toy-mlp" and saved["architectures"] == ["ToyMLP"]
    from safetensors.torch import load_file

    assert set(load_file(tmp_path / "toy" / "model.safetensors")) == {
        "layers.0.dense.weight",
        "layers.0.dense.bias",
        "layers.1.dense.weight",
        "layers.1.dense.bias",
        "head.weight",
        "head.bias",
    }
    loaded = hub.load(tmp_path / "toy")
    x = torch.randn(2, 1, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).logits, model.eval()(x).logits)

    p = planning.plan("toy-mlp-small", batch_size=8)
    assert p.parameters["total"] == model.num_parameters() == count_parameters("toy-mlp-small")
    assert p.flops["forward_per_step"] == 8 * 2 * (16 * 12 + 12 * 12 + 12 * 3)
    assert planning.plan(tmp_path / "toy").parameters["total"] == model.num_parameters()


def test_a_family_is_gone_after_the_fixture_and_unknown_model_types_name_the_known() -> None:
    assert "toy-mlp-small" not in registry.preset_names()
    with pytest.raises(BigModelError, match="bigmodel reads .*gpt2"):
        families.family_for_model_type("toy-mlp")


def test_a_preset_of_another_family_is_refused() -> None:
    wrong = FamilyMap(
        "toy2",
        "toy2",
        "",
        (),
        (),
        {"ToyMLP": lambda: ToyMLP},
        TOY.config_to_hf,
        _config_from_hf,
        presets=(Preset("x", "gpt", "ToyMLP"),),
    )
    with pytest.raises(BigModelError, match="registered with 'toy2'"):
        register_family(wrong)
    assert "toy2" not in families.FAMILIES


def test_every_builtin_family_is_asked_not_named() -> None:
    names = {m.family for m in families.family_maps()}
    assert {"gpt", "bert", "transformer", "resnet", "detection"} <= names
    for preset in registry.PRESETS.values():
        assert families.family_named(preset.family).architectures[preset.architecture]
