"""Classification and language-model metrics, written out so the definitions are visible.

For class c, with TP/FP/FN counted over the examples:

    precision_c = TP_c / (TP_c + FP_c)      recall_c = TP_c / (TP_c + FN_c)
    F1_c = 2 · precision_c · recall_c / (precision_c + recall_c)
    macro-F1 = mean over classes of F1_c    accuracy = (1/N) Σ [ŷ_i = y_i]

A ratio whose denominator is 0 is defined as 0 (scikit-learn's ``zero_division=0``). These
are written out on purpose rather than imported: the definitions are what an evaluation
teaches, and scikit-learn is only in the ``[data]`` extra; tests/tasks/test_evaluation.py
checks every figure against ``sklearn.metrics``.
Perplexity of a language model is exp(mean negative log-likelihood per token).

A generated text *loops* when one n-gram of its units occurs twice (``repeats_ngram``); the
units (``text_units``) are lower-cased words, each CJK character one unit, punctuation left
out, so that the measure means the same for English and Chinese and for any tokenizer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BigModelError


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int | None = None) -> np.ndarray:
    """(C, C) counts: row = true class, column = predicted class."""
    true = np.asarray(y_true, dtype=np.int64)
    pred = np.asarray(y_pred, dtype=np.int64)
    if true.shape != pred.shape:
        raise BigModelError(f"y_true and y_pred differ in length ({true.size} vs {pred.size})")
    if true.size and (true.min() < 0 or pred.min() < 0):
        raise BigModelError("class ids must be >= 0")
    n = num_classes if num_classes is not None else int(max(true.max(initial=-1), pred.max(initial=-1)) + 1)
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (true, pred), 1)
    return matrix


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def classification_report(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """accuracy, macro precision/recall/F1, per-class precision/recall/F1/support, matrix."""
    num_classes = len(labels) if labels is not None else None
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    true_positive = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    support = matrix.sum(axis=1).astype(np.float64)
    precision = _safe_divide(true_positive, predicted)
    recall = _safe_divide(true_positive, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    names = list(labels) if labels is not None else [str(i) for i in range(matrix.shape[0])]
    total = matrix.sum()
    return {
        "accuracy": float(true_positive.sum() / total) if total else 0.0,
        "macro_precision": float(precision.mean()) if precision.size else 0.0,
        "macro_recall": float(recall.mean()) if recall.size else 0.0,
        "macro_f1": float(f1.mean()) if f1.size else 0.0,
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(names)
        },
        "labels": names,
        "confusion_matrix": matrix.tolist(),
        "count": int(total),
    }


def format_report(report: dict[str, Any]) -> str:
    """A text table: per-class precision/recall/F1/support, then the confusion matrix."""
    names = report["labels"]
    width = max([len(n) for n in names] + [9])
    lines = [f"{'':<{width}}  precision  recall      f1  support"]
    for name in names:
        row = report["per_class"][name]
        lines.append(f"{name:<{width}}  {row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:6.4f}  {row['support']:7d}")
    lines.append(f"{'macro avg':<{width}}  {report['macro_precision']:9.4f}  {report['macro_recall']:6.4f}  "
                 f"{report['macro_f1']:6.4f}  {report['count']:7d}")
    lines.append(f"accuracy {report['accuracy']:.4f}")
    lines.append("")
    lines.append("confusion matrix (rows = true, columns = predicted)")
    cell = max(6, max((len(str(v)) for row in report["confusion_matrix"] for v in row), default=1) + 1)
    lines.append(" " * width + "".join(f"{n[:cell - 1]:>{cell}}" for n in names))
    for name, row in zip(names, report["confusion_matrix"], strict=True):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines)


def plot_confusion_matrix(report: dict[str, Any], path: str | Path, title: str = "Confusion matrix") -> Path:
    """Save the confusion matrix as a PNG (counts in the cells, row-normalized colours)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .fileio import atomic_write

    matrix = np.asarray(report["confusion_matrix"], dtype=np.float64)
    names = report["labels"]
    rates = _safe_divide(matrix, matrix.sum(axis=1, keepdims=True).repeat(matrix.shape[1], axis=1))
    size = max(4.0, 0.6 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title} (accuracy {report['accuracy']:.3f})")
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, int(matrix[i, j]), ha="center", va="center",
                    color="white" if rates[i, j] > 0.5 else "black")
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return path


def perplexity(mean_nll: float) -> float:
    """exp(mean negative log-likelihood per token); inf when it overflows."""
    try:
        return math.exp(mean_nll)
    except OverflowError:
        return math.inf


_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# One CJK character, or a run of other letters/digits (with inner apostrophes: "I'll").
_UNIT = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+(?:'[^\\W_{_CJK}]+)*")


def text_units(text: str) -> list[str]:
    """Words (lower-cased) and single CJK characters of ``text``, punctuation dropped."""
    return _UNIT.findall(text.lower())


def repeats_ngram(units: Sequence[Any], n: int = 4) -> bool:
    """True when some n consecutive units occur twice (overlapping occurrences count)."""
    if n < 1:
        raise BigModelError(f"n must be >= 1, got {n}")
    seen: set[tuple[Any, ...]] = set()
    for i in range(len(units) - n + 1):
        gram = tuple(units[i:i + n])
        if gram in seen:
            return True
        seen.add(gram)
    return False
