"""The equations of docs/concepts/detection.md, computed by hand, equal the detector's code."""

from __future__ import annotations

import math

import torch

from bigmodel.models.detection import DetectionOutput, DetectorConfig, ResNetDetector, focal_loss


def test_focal_loss_is_the_penalty_reduced_sum_over_cells() -> None:
    logits = torch.randn(1, 2, 3, 3)
    target = torch.rand(1, 2, 3, 3) * 0.9
    target[0, 1, 2, 0] = 1.0
    by_hand = 0.0
    for z, y in zip(logits.flatten().tolist(), target.flatten().tolist(), strict=True):
        p = 1 / (1 + math.exp(-z))
        by_hand += (1 - p) ** 2 * math.log(p) if y == 1 else (1 - y) ** 4 * p**2 * math.log(1 - p)
    assert math.isclose(float(focal_loss(logits, target)), -by_hand, rel_tol=1e-5)


def test_target_gaussian_size_and_offset() -> None:
    model = ResNetDetector(DetectorConfig(embedding_size=16, hidden_sizes=(16, 32), depths=(1, 1), num_labels=1,
                                          neck_channels=8, head_channels=8, min_sigma=0.5))
    box = (5.0, 9.0, 29.0, 21.0)  # w = 24, h = 12 pixels; R = 4
    encoded = model.encode_targets([{"boxes": torch.tensor([box]), "labels": torch.tensor([0])}], (8, 8))
    px, py = (box[0] + box[2]) / 2 / 4, (box[1] + box[3]) / 2 / 4  # (4.25, 3.75)
    cx, cy = math.floor(px), math.floor(py)
    sigma = max(0.5, math.sqrt(24 * 12) / (4 * 6))
    for x in range(8):
        for y in range(8):
            expected = math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
            assert math.isclose(float(encoded["heatmap"][0, 0, y, x]), expected, rel_tol=1e-5, abs_tol=1e-7)
    assert encoded["size"].tolist() == [[6.0, 3.0]]
    assert torch.allclose(encoded["offset"], torch.tensor([[px - cx, py - cy]]))


def test_decoded_box_is_r_times_center_plus_offset_plus_or_minus_half_size() -> None:
    model = ResNetDetector(DetectorConfig(embedding_size=16, hidden_sizes=(16, 32), depths=(1, 1), num_labels=1,
                                          neck_channels=8, head_channels=8))
    logits = torch.full((1, 1, 8, 8), -9.0)
    logits[0, 0, 5, 1] = 2.0
    size = torch.zeros(1, 2, 8, 8)
    offset = torch.zeros(1, 2, 8, 8)
    size[0, :, 5, 1] = torch.tensor([2.5, 1.5])
    offset[0, :, 5, 1] = torch.tensor([0.25, 0.75])
    found = model.decode(DetectionOutput(logits=logits, size=size, offset=offset), max_detections=1)[0]
    x, y = 1 + 0.25, 5 + 0.75
    expected = [4 * (x - 1.25), 4 * (y - 0.75), 4 * (x + 1.25), 4 * (y + 0.75)]
    assert torch.allclose(found["boxes"][0], torch.tensor(expected))
