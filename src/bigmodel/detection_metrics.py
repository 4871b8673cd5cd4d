"""Detection metrics, COCO's definitions written out: IoU, AP per class, mAP@0.5 and mAP@[.5:.95].

    IoU(a, b) = |a ∩ b| / |a ∪ b|                         boxes (x0, y0, x1, y1)

Matching, per image and class, at an IoU threshold t: detections in order of falling score
each take the not-yet-matched ground-truth box they overlap most, if that IoU is >= t (a true
positive); otherwise they are false positives. Over all images, with detections sorted by
score (ties keep their order):

    precision_i = TP_≤i / i        recall_i = TP_≤i / G          (G = ground-truth boxes)
    p̂(r) = max_{i: recall_i >= r} precision_i                     (the precision envelope)
    AP = (1/101) Σ_{r ∈ {0, 0.01, ..., 1}} p̂(r)                  (0 where no recall reaches r)

mAP@t is the mean of AP over the classes that have ground truth; mAP@[.5:.95] is the mean of
mAP@t over t = 0.50, 0.55, ..., 0.95 (pycocotools' ``stats[0]``, with at most
``max_detections`` per image).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import BigModelError

IOU_THRESHOLDS = tuple(np.round(np.linspace(0.5, 0.95, 10), 2).tolist())
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of boxes a (N, 4) and b (M, 4), both x0, y0, x1, y1."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1, 4), np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_detections(det_boxes: np.ndarray, det_scores: np.ndarray, gt_boxes: np.ndarray,
                     threshold: float) -> np.ndarray:
    """For one image and class: True where a detection (in the given order) is a true positive."""
    order = np.argsort(-np.asarray(det_scores, dtype=np.float64), kind="mergesort")
    hits = np.zeros(len(det_scores), dtype=bool)
    hits[order] = _greedy_match(box_iou(np.asarray(det_boxes).reshape(-1, 4)[order], gt_boxes), threshold)
    return hits


def _greedy_match(iou: np.ndarray, threshold: float) -> np.ndarray:
    """Detections (rows, best score first) each take the free ground truth they overlap most."""
    hits = np.zeros(iou.shape[0], dtype=bool)
    if iou.shape[1] == 0:
        return hits
    free = np.ones(iou.shape[1], dtype=bool)
    for d in range(iou.shape[0]):
        overlap = np.where(free, iou[d], -1.0)
        best = int(overlap.argmax())
        if overlap[best] >= threshold:
            free[best] = False
            hits[d] = True
    return hits


def average_precision(scores: Sequence[float], hits: Sequence[bool], num_ground_truth: int) -> float:
    """101-point interpolated AP of detections (score, is-true-positive) against G boxes."""
    if num_ground_truth <= 0:
        raise BigModelError("average precision needs at least one ground-truth box")
    scores, hits = np.asarray(scores, dtype=np.float64), np.asarray(hits, dtype=bool)
    if scores.size == 0:
        return 0.0
    order = np.argsort(-scores, kind="mergesort")
    tp = np.cumsum(hits[order])
    fp = np.cumsum(~hits[order])
    recall = tp / num_ground_truth
    precision = tp / (tp + fp)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # p̂ at each detection's recall
    first = np.searchsorted(recall, RECALL_POINTS, side="left")  # first i with recall_i >= r
    reached = first < len(recall)
    return float(np.where(reached, envelope[np.minimum(first, len(recall) - 1)], 0.0).sum() / len(RECALL_POINTS))


def _as_arrays(item: dict[str, Any], with_scores: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    boxes = np.asarray(item["boxes"], dtype=np.float64).reshape(-1, 4)
    labels = np.asarray(item["labels"], dtype=np.int64).reshape(-1)
    scores = np.asarray(item["scores"], dtype=np.float64).reshape(-1) if with_scores else None
    return boxes, labels, scores


def _per_class_detections(preds: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                          truths: list[tuple[np.ndarray, np.ndarray]], classes: list[int],
                          ) -> tuple[dict[int, list[tuple[np.ndarray, np.ndarray]]], dict[int, int]]:
    """Per class: every image's detections best first with their IoU (k, g) against that
    image's ground truth of the class, and the class's number of ground-truth boxes."""
    items: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {c: [] for c in classes}
    counts = {c: 0 for c in classes}
    for (p_boxes, p_labels, p_scores), (g_boxes, g_labels) in zip(preds, truths, strict=True):
        for c in classes:
            pm, gm = p_labels == c, g_labels == c
            counts[c] += int(gm.sum())
            if pm.any():
                order = np.argsort(-p_scores[pm], kind="mergesort")
                items[c].append((p_scores[pm][order], box_iou(p_boxes[pm][order], g_boxes[gm])))
    return items, counts


def _class_average_precision(items: list[tuple[np.ndarray, np.ndarray]], num_ground_truth: int,
                             threshold: float) -> float:
    """One class's AP at one IoU threshold, over every image's (scores, IoU) detections."""
    scores = np.concatenate([s for s, _ in items]) if items else np.zeros(0)
    hits = np.concatenate([_greedy_match(iou, threshold) for _, iou in items]) if items else np.zeros(0, bool)
    return average_precision(scores, hits, num_ground_truth)


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0


def mean_average_precision(predictions: Sequence[dict[str, Any]], ground_truth: Sequence[dict[str, Any]], *,
                           iou_thresholds: Sequence[float] = IOU_THRESHOLDS, max_detections: int = 100,
                           class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """mAP over images: ``predictions[i]`` has ``boxes`` (k, 4), ``scores``, ``labels``;
    ``ground_truth[i]`` has ``boxes`` and ``labels``. Returns ``map_50``, ``map_75``,
    ``map`` (mean over ``iou_thresholds``) and ``ap_50`` / ``ap`` per class name."""
    if len(predictions) != len(ground_truth):
        raise BigModelError(f"{len(predictions)} predictions for {len(ground_truth)} images")
    preds = []
    for item in predictions:
        boxes, labels, scores = _as_arrays(item, True)
        keep = np.argsort(-scores, kind="mergesort")[:max_detections]
        preds.append((boxes[keep], labels[keep], scores[keep]))
    truths = [_as_arrays(item, False)[:2] for item in ground_truth]
    classes = sorted({int(c) for _, labels in truths for c in labels})
    items, counts = _per_class_detections(preds, truths, classes)
    per_threshold = {float(t): {c: _class_average_precision(items[c], counts[c], t) for c in classes}
                     for t in iou_thresholds}

    def name(c: int) -> str:
        return str(class_names[c]) if class_names is not None and c < len(class_names) else str(c)

    report: dict[str, Any] = {
        "map": _mean([_mean(list(v.values())) for v in per_threshold.values()]),
        "images": len(ground_truth),
        "ground_truth_boxes": sum(len(labels) for _, labels in truths),
        "iou_thresholds": [float(t) for t in iou_thresholds],
    }
    for t, key in ((0.5, "map_50"), (0.75, "map_75")):
        if t in per_threshold:
            report[key] = _mean(list(per_threshold[t].values()))
    if 0.5 in per_threshold:
        report["ap_50"] = {name(c): per_threshold[0.5][c] for c in classes}
    report["ap"] = {name(c): _mean([per_threshold[t][c] for t in per_threshold]) for c in classes}
    return report


__all__ = ["IOU_THRESHOLDS", "average_precision", "box_iou", "match_detections", "mean_average_precision"]
