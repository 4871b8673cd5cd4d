"""ResNet: same logits as transformers' ResNetForImageClassification, both ways; torchvision names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import bigmodel as bm
from bigmodel.errors import BigModelError
from bigmodel.models.resnet import (
    BasicBlock,
    Bottleneck,
    ResNetConfig,
    ResNetForImageClassification,
    ResNetModel,
)

transformers = pytest.importorskip("transformers")

TINY = {
    "basic": dict(embedding_size=8, hidden_sizes=[8, 16, 24], depths=[1, 2, 1], layer_type="basic"),
    "bottleneck": dict(embedding_size=8, hidden_sizes=[16, 32], depths=[2, 1], layer_type="bottleneck"),
}


def _randomize_batchnorm(model: torch.nn.Module) -> None:
    """Give every BatchNorm non-trivial stats, so eval-mode parity checks the running stats too."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)
            module.num_batches_tracked.fill_(7)


def _hf_model(kind: str, **flags: bool) -> torch.nn.Module:
    config = transformers.ResNetConfig(**TINY[kind], num_labels=5, **flags)
    model = transformers.ResNetForImageClassification(config)
    with torch.no_grad():
        _randomize_batchnorm(model)
    return model.eval()


@pytest.mark.parametrize("kind", ["basic", "bottleneck"])
@pytest.mark.parametrize("flags", [{}, {"downsample_in_first_stage": True, "downsample_in_bottleneck": True}])
def test_loads_transformers_checkpoint_with_equal_logits(kind: str, flags: dict, tmp_path: Path) -> None:
    hf = _hf_model(kind, **flags)
    hf.save_pretrained(tmp_path)
    ours = bm.load(tmp_path)
    assert isinstance(ours, ResNetForImageClassification)
    pixels = torch.randn(2, 3, 32, 40)
    with torch.no_grad():
        expected = hf(pixels).logits
        got = ours(pixels)
    torch.testing.assert_close(got.logits, expected, atol=1e-4, rtol=0)
    hidden_hf = hf(pixels, output_hidden_states=True).hidden_states
    hidden_ours = ours(pixels, output_hidden_states=True).hidden_states
    assert len(hidden_ours) == len(hidden_hf)
    torch.testing.assert_close(hidden_ours[-1], hidden_hf[-1].detach(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("kind", ["basic", "bottleneck"])
def test_transformers_loads_our_checkpoint_with_equal_logits(kind: str, tmp_path: Path) -> None:
    block = TINY[kind]["layer_type"]
    config = ResNetConfig(embedding_size=8, hidden_sizes=tuple(TINY[kind]["hidden_sizes"]),
                          depths=tuple(TINY[kind]["depths"]), block=block, num_labels=4,
                          id2label={0: "cat", 1: "dog", 2: "owl", 3: "emu"})
    ours = ResNetForImageClassification(config)
    with torch.no_grad():
        _randomize_batchnorm(ours)
    ours.eval().save_pretrained(tmp_path)
    hf = transformers.ResNetForImageClassification.from_pretrained(tmp_path).eval()
    assert hf.config.id2label[2] == "owl"
    pixels = torch.randn(2, 3, 24, 24)
    with torch.no_grad():
        torch.testing.assert_close(ours(pixels).logits, hf(pixels).logits, atol=1e-4, rtol=0)
    # every tensor transformers expects is in the file (no "newly initialized" weights)
    saved = set(load_file(tmp_path / "model.safetensors"))
    assert saved == set(hf.state_dict())


def test_body_only_model_matches_transformers_resnet_model(tmp_path: Path) -> None:
    hf = _hf_model("bottleneck")
    hf.save_pretrained(tmp_path)
    body = bm.load(tmp_path, architecture="ResNetModel")
    assert isinstance(body, ResNetModel)
    pixels = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        out = body(pixels)
        ref = hf.resnet(pixels)
    torch.testing.assert_close(out.pooler_output, ref.pooler_output, atol=1e-4, rtol=0)
    assert out.last_hidden_state.shape == ref.last_hidden_state.shape


def test_presets_have_the_published_parameter_counts() -> None:
    with torch.device("meta"):
        counts = {name: bm.create(name).num_parameters() for name in ("resnet18", "resnet50")}
    # torchvision's resnet18 / resnet50 (ImageNet, 1000 classes)
    assert counts == {"resnet18": 11_689_512, "resnet50": 25_557_032}


def test_block_expansion_and_shapes() -> None:
    assert BasicBlock.expansion == 1 and Bottleneck.expansion == 4
    block = Bottleneck(16, 32, stride=2)
    assert block.conv1.out_channels == 32 // 4
    assert block(torch.randn(2, 16, 8, 8)).shape == (2, 32, 4, 4)


def test_small_stem_keeps_resolution_and_classifies_8x8() -> None:
    config = ResNetConfig(embedding_size=8, hidden_sizes=(8, 16), depths=(1, 1), block="basic",
                          stem="small", num_labels=10)
    model = ResNetForImageClassification(config).eval()
    features = model.forward_features(torch.randn(3, 3, 8, 8))
    assert features.shape == (3, 16, 4, 4)  # no stem downsampling, one stride-2 stage
    assert model.forward_head(features).shape == (3, 10)
    assert model.forward_head(features, pre_logits=True).shape == (3, 16)


def test_small_stem_round_trips_and_is_marked_in_config(tmp_path: Path) -> None:
    config = ResNetConfig(embedding_size=8, hidden_sizes=(8,), depths=(1,), block="basic", stem="small", num_labels=3)
    model = ResNetForImageClassification(config).eval()
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["stem"] == "small"
    again = bm.load(tmp_path)
    pixels = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(again(pixels).logits, model(pixels).logits)


def test_torchvision_key_names_are_accepted() -> None:
    config = ResNetConfig(embedding_size=8, hidden_sizes=(8, 16), depths=(1, 1), block="basic", num_labels=3)
    source = ResNetForImageClassification(config).eval()
    with torch.no_grad():
        _randomize_batchnorm(source)
    renames = {"resnet.stem.conv": "conv1", "resnet.stem.bn": "bn1", "classifier": "fc",
               "resnet.stages.0.0": "layer1.0", "resnet.stages.1.0": "layer2.0", "shortcut.conv": "downsample.0",
               "shortcut.bn": "downsample.1"}
    torchvision_state = {}
    for key, value in source.state_dict().items():
        for old, new in renames.items():
            key = key.replace(old, new)
        if not key.endswith("num_batches_tracked"):  # pre-0.4 torchvision files have no counters
            torchvision_state[key] = value
    assert "layer2.0.downsample.1.running_var" in torchvision_state
    target = ResNetForImageClassification(config).eval()
    target.load_torchvision_weights(torchvision_state)
    pixels = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(target(pixels).logits, source(pixels).logits)


def test_labels_give_cross_entropy_loss_and_gradients() -> None:
    config = ResNetConfig(embedding_size=8, hidden_sizes=(8,), depths=(1,), block="basic", stem="small", num_labels=3)
    model = ResNetForImageClassification(config).train()
    out = model(torch.randn(4, 3, 8, 8), labels=torch.tensor([0, 1, 2, 1]))
    assert out.loss is not None and out.loss.item() > 0
    out.loss.backward()
    assert model.resnet.stem.conv.weight.grad is not None


def test_bad_configs_and_inputs_are_clear() -> None:
    with pytest.raises(ValueError, match="block must be"):
        ResNetConfig(block="dense")
    with pytest.raises(ValueError, match="equal length"):
        ResNetConfig(hidden_sizes=(64, 128), depths=(2,))
    with pytest.raises(BigModelError, match="unknown ResNetConfig key 'layers'"):
        ResNetConfig.from_dict({"layers": 3})
    model = ResNetForImageClassification(ResNetConfig(embedding_size=8, hidden_sizes=(8,), depths=(1,), block="basic"))
    with pytest.raises(ValueError, match=r"pixel_values must be \(batch, 3"):
        model(torch.randn(2, 1, 8, 8))


def test_non_relu_checkpoint_is_refused(tmp_path: Path) -> None:
    hf = transformers.ResNetForImageClassification(
        transformers.ResNetConfig(**TINY["basic"], num_labels=2, hidden_act="gelu"))
    hf.save_pretrained(tmp_path)
    with pytest.raises(BigModelError, match="hidden_act='gelu'"):
        bm.load(tmp_path)


def test_block_is_relu_of_residual_plus_input_and_folded_bn_equals_bn() -> None:
    block = BasicBlock(8, 8).eval()
    with torch.no_grad():
        _randomize_batchnorm(block)
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        # y = ReLU(F(x) + x), F = BN(conv(ReLU(BN(conv(x))))), BN with its running statistics
        inner = torch.relu(block.bn1(block.conv1(x)))
        by_hand = torch.relu(block.bn2(block.conv2(inner)) + x)
        torch.testing.assert_close(block(x.clone()), by_hand, atol=1e-5, rtol=1e-5)
