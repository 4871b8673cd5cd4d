"""mAP as COCO defines it, checked against cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from bigmodel.detection_metrics import (
    IOU_THRESHOLDS,
    average_precision,
    box_iou,
    match_detections,
    mean_average_precision,
)
from bigmodel.errors import BigModelError


def image(boxes: list, labels: list, scores: list | None = None) -> dict:
    out = {"boxes": np.asarray(boxes, dtype=float).reshape(-1, 4), "labels": np.asarray(labels, dtype=int)}
    if scores is not None:
        out["scores"] = np.asarray(scores, dtype=float)
    return out


def test_iou_of_two_overlapping_squares() -> None:
    iou = box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]]))
    np.testing.assert_allclose(iou, [[1 / 7, 1.0, 0.0]])


def test_ap_of_a_ranking_worked_out_by_hand() -> None:
    # TP, FP, TP against 2 boxes: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1. The envelope is
    # 1 up to recall 0.5 (51 of the 101 points) and 2/3 above it (50 points).
    assert average_precision([0.9, 0.8, 0.7], [True, False, True], 2) == pytest.approx((51 + 50 * 2 / 3) / 101)
    # scores decide the order, not the list order
    assert average_precision([0.7, 0.9, 0.8], [True, True, False], 2) == pytest.approx((51 + 50 * 2 / 3) / 101)
    # FP then TP against one box: precision 1/2 reached at recall 1, so every point is 1/2
    assert average_precision([0.9, 0.8], [False, True], 1) == pytest.approx(0.5)
    assert average_precision([0.9], [True], 1) == pytest.approx(1.0)
    assert average_precision([], [], 3) == 0.0
    # half the boxes found, perfectly ranked: points 0..0.5 (51 of 101) at precision 1
    assert average_precision([0.9], [True], 2) == pytest.approx(51 / 101)
    with pytest.raises(BigModelError, match="at least one ground-truth box"):
        average_precision([0.5], [False], 0)


def test_greedy_matching_gives_a_box_to_the_best_scored_detection_only() -> None:
    gt = np.array([[0, 0, 10, 10]])
    dets = np.array([[0, 0, 10, 9], [0, 0, 10, 10]])
    assert match_detections(dets, np.array([0.3, 0.9]), gt, 0.5).tolist() == [False, True]
    assert match_detections(dets, np.array([0.9, 0.3]), gt, 0.5).tolist() == [True, False]
    assert match_detections(dets, np.array([0.9, 0.3]), np.zeros((0, 4)), 0.5).tolist() == [False, False]


def test_map_over_iou_thresholds_and_classes() -> None:
    truth = [image([[0, 0, 10, 10]], [0])]
    # IoU 0.62: a hit at t = 0.50, 0.55, 0.60 and a miss at the 7 stricter thresholds
    report = mean_average_precision([image([[0, 0, 10, 6.2]], [0], [0.8])], truth)
    assert report["map_50"] == pytest.approx(1.0)
    assert report["map_75"] == pytest.approx(0.0)
    assert report["map"] == pytest.approx(0.3)
    assert len(IOU_THRESHOLDS) == 10
    # a class with no ground truth is left out of the mean; a class never found counts 0
    extra = mean_average_precision([image([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 2], [0.9, 0.9])], truth)
    assert extra["map"] == pytest.approx(1.0) and set(extra["ap"]) == {"0"}
    two = [image([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 1])]
    missed = mean_average_precision([image([[0, 0, 10, 10]], [0], [0.9])], two, class_names=["zero", "one"])
    assert missed["map_50"] == pytest.approx(0.5)
    assert missed["ap_50"] == {"zero": 1.0, "one": 0.0}


def test_pooled_over_images_and_capped_per_image() -> None:
    truth = [image([[0, 0, 10, 10]], [0]), image([[0, 0, 10, 10]], [0])]
    # image 1: a FP scored above image 2's TP; ranking TP(.9), FP(.8), TP(.7) -> the hand case above
    preds = [image([[0, 0, 10, 10]], [0], [0.9]), image([[50, 50, 60, 60], [0, 0, 10, 10]], [0, 0], [0.8, 0.7])]
    assert mean_average_precision(preds, truth)["map_50"] == pytest.approx((51 + 50 * 2 / 3) / 101)
    # with one detection per image the FP (higher score) is kept and the TP dropped
    capped = mean_average_precision(preds, truth, max_detections=1)
    assert capped["map_50"] == pytest.approx(51 / 101 * 1.0)
    with pytest.raises(BigModelError, match="2 predictions for 1 images"):
        mean_average_precision(preds, truth[:1])
