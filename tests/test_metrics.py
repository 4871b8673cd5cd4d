"""Metrics equal scikit-learn's on random predictions."""

from __future__ import annotations

import numpy as np
import pytest

from bigmodel.errors import BigModelError
from bigmodel.metrics import (
    classification_report,
    confusion_matrix,
    format_report,
    plot_confusion_matrix,
)

sklearn_metrics = pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("num_classes", [2, 5])
def test_equal_to_scikit_learn(num_classes: int) -> None:
    rng = np.random.default_rng(num_classes)
    y_true = rng.integers(0, num_classes, 300)
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, num_classes, 300))
    y_pred[y_pred == num_classes - 1] = 0  # one class never predicted: zero division
    report = classification_report(y_true, y_pred, [f"c{i}" for i in range(num_classes)])
    labels = list(range(num_classes))
    assert report["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(y_true, y_pred))
    assert report["macro_f1"] == pytest.approx(
        sklearn_metrics.f1_score(y_true, y_pred, average="macro", labels=labels, zero_division=0))
    precision, recall, f1, support = sklearn_metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    for i in range(num_classes):
        row = report["per_class"][f"c{i}"]
        assert row["precision"] == pytest.approx(precision[i])
        assert row["recall"] == pytest.approx(recall[i])
        assert row["f1"] == pytest.approx(f1[i])
        assert row["support"] == support[i]
    assert np.array_equal(confusion_matrix(y_true, y_pred, num_classes),
                          sklearn_metrics.confusion_matrix(y_true, y_pred, labels=labels))


def test_text_table_and_png(tmp_path) -> None:
    report = classification_report([0, 1, 1, 0], [0, 1, 0, 0], ["neg", "pos"])
    text = format_report(report)
    assert "neg" in text and "accuracy 0.7500" in text
    png = plot_confusion_matrix(report, tmp_path / "cm.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_length_mismatch_is_clear() -> None:
    with pytest.raises(BigModelError, match="differ in length"):
        confusion_matrix([0, 1], [0])
