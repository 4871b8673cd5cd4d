"""The loss curves: a PNG drawn by matplotlib with titled axes and a legend."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image

from bigmodel.training.curves import loss_figure, plot_losses

TRAIN = [(s, 5.0 * 0.98**s) for s in range(1, 101)]
VALIDATION = [(25, 3.2), (50, 2.1), (100, 0.9)]


def test_curve_png_is_written(tmp_path: Path) -> None:
    path = plot_losses(tmp_path / "loss.png", TRAIN, VALIDATION)
    image = Image.open(path)
    assert image.format == "PNG" and image.size == (720, 420)
    assert not list(tmp_path.glob(".*.tmp"))


def test_axes_are_titled_and_both_curves_in_the_legend() -> None:
    ax = loss_figure(TRAIN, VALIDATION, title="tiny-gpt").axes[0]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss" and ax.get_title() == "tiny-gpt"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training loss", "validation loss"]


def test_non_finite_points_are_left_out_and_empty_is_fine(tmp_path: Path) -> None:
    ax = loss_figure([(1, math.nan), (2, 1.0), (3, math.inf), (4, 0.5)]).axes[0]
    assert list(ax.lines[0].get_xdata()) == [2, 4]
    assert plot_losses(tmp_path / "empty.png", []).is_file()
