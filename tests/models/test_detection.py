"""The CenterNet-style detector: targets, loss, decoding, save/load."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import bigmodel as bm
from bigmodel.models.detection import DetectionOutput, DetectorConfig, ResNetDetector, focal_loss

TINY = dict(embedding_size=16, hidden_sizes=(16, 32, 32), depths=(1, 1, 1), neck_channels=16, head_channels=16,
            num_labels=3, image_size=32)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny convolutions run fastest on one thread (two contend on a shared, busy CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_detector(**overrides: object) -> ResNetDetector:
    return ResNetDetector(DetectorConfig(**(TINY | overrides)))


def test_heatmap_is_one_cell_per_output_stride() -> None:
    model = tiny_detector().eval()
    out = model(torch.randn(2, 3, 32, 32))
    assert out.logits.shape == (2, 3, 8, 8)  # 32 / R = 32 / 4
    assert out.size.shape == out.offset.shape == (2, 2, 8, 8)
    assert model.config.stage_strides() == [2, 4, 8]
    # the heatmap starts at the prior p = 0.1 everywhere
    assert torch.sigmoid(out.logits).mean().item() == pytest.approx(0.1, abs=0.05)
    with pytest.raises(ValueError, match="output_stride 3 must be one of"):
        DetectorConfig(**(TINY | {"output_stride": 3}))


def test_targets_put_a_one_at_each_center_and_the_rest_of_the_box_in_size_and_offset() -> None:
    model = tiny_detector()
    targets = [{"boxes": torch.tensor([[2.0, 6.0, 14.0, 22.0]]), "labels": torch.tensor([2])}]
    encoded = model.encode_targets(targets, (8, 8))
    heat = encoded["heatmap"][0]
    # center (8, 14) px -> (2.0, 3.5) cells -> cell (x=2, y=3), offset (0, 0.5), size (3, 4) cells
    assert heat[2, 3, 2] == 1.0 and heat[2].max() == 1.0 and heat[:2].max() == 0.0
    assert encoded["cell"].tolist() == [3 * 8 + 2]
    assert encoded["offset"].tolist() == [[0.0, 0.5]]
    assert encoded["size"].tolist() == [[3.0, 4.0]]


def test_focal_loss_is_small_for_a_right_heatmap_and_large_for_a_wrong_one() -> None:
    target = torch.zeros(1, 1, 4, 4)
    target[0, 0, 1, 1] = 1.0
    right = torch.full_like(target, -8.0)
    right[0, 0, 1, 1] = 8.0
    assert focal_loss(right, target) < 1e-3 < focal_loss(-right, target)
    assert torch.isfinite(focal_loss(torch.full_like(target, 100.0), target))


def test_decode_reads_boxes_off_the_peaks() -> None:
    model = tiny_detector().eval()
    logits = torch.full((1, 3, 8, 8), -10.0)
    logits[0, 1, 3, 2] = 3.0  # class 1 at cell (x=2, y=3)
    logits[0, 1, 3, 3] = 2.0  # a neighbour that is not a peak
    size, offset = torch.zeros(1, 2, 8, 8), torch.zeros(1, 2, 8, 8)
    size[0, :, 3, 2] = torch.tensor([3.0, 4.0])
    offset[0, :, 3, 2] = torch.tensor([0.0, 0.5])
    found = model.decode(DetectionOutput(logits=logits, size=size, offset=offset), max_detections=2)[0]
    assert found["labels"].tolist()[0] == 1
    assert found["scores"][0].item() == pytest.approx(torch.sigmoid(torch.tensor(3.0)).item())
    torch.testing.assert_close(found["boxes"][0], torch.tensor([2.0, 6.0, 14.0, 22.0]))
    assert found["scores"][1] < 1e-3  # the neighbour was suppressed by the 3×3 max-pool


def test_loss_falls_on_a_few_canvases() -> None:
    torch.manual_seed(0)
    model = tiny_detector()
    pixels = torch.full((4, 3, 32, 32), -1.0)
    targets = []
    for i in range(4):
        x, y = 4 + 4 * i, 8
        pixels[i, :, y:y + 12, x:x + 10] = 1.0
        targets.append({"boxes": torch.tensor([[x, y, x + 10.0, y + 12.0]]), "labels": torch.tensor([i % 3])})
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        out = model(pixels, targets=targets)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(float(out.loss.detach()))
    assert set(out.loss_parts) == {"heatmap_loss", "size_loss", "offset_loss"}
    assert losses[-1] < 0.5 * losses[0]


def test_save_and_load_by_folder_is_a_bigmodel_architecture(tmp_path: Path) -> None:
    model = tiny_detector(id2label={0: "cat", 1: "dog", 2: "owl"}).eval()
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "bigmodel-detector" and config["architectures"] == ["BigModelDetector"]
    assert config["id2label"] == {"0": "cat", "1": "dog", "2": "owl"}
    loaded = bm.load(tmp_path)
    assert isinstance(loaded, ResNetDetector) and loaded.config.id2label == {0: "cat", 1: "dog", 2: "owl"}
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loaded(x).logits, model(x).logits)
