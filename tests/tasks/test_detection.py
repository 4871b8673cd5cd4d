"""bm.detect, drawing, mAP evaluation and `bigmodel detect`, on the shipped tiny-detector-digits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import bigmodel as bm
from bigmodel.cli import main
from bigmodel.data.detection import read_coco
from bigmodel.data.digit_canvases import CanvasSettings, write_canvases
from bigmodel.detection_metrics import box_iou
from bigmodel.errors import BigModelError
from bigmodel.tasks.detection import draw_detections, evaluate_detection

MODEL = "tiny-detector-digits"


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny convolutions run fastest on one thread (two contend on a shared, busy CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def canvases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Held-out canvases: another seed, and only digits the model never saw in training."""
    out = tmp_path_factory.mktemp("canvases")
    write_canvases(out, 12, seed=123, settings=CanvasSettings(split="test"))
    return out


def test_the_shipped_model_finds_the_digits_on_a_new_canvas(canvases: Path) -> None:
    coco = read_coco(canvases)
    hits = total = 0
    for example in coco.examples:
        found = bm.detect(str(example.path), model=MODEL, threshold=0.5)
        assert all(set(d) == {"label", "score", "box"} and d["score"] >= 0.5 for d in found)
        for box, label in zip(example.boxes, example.labels, strict=True):
            total += 1
            hits += any(d["label"] == coco.categories[label] and box_iou(np.array([d["box"]]), box[None])[0, 0] > 0.5
                        for d in found)
    assert hits / total > 0.85


def test_boxes_are_in_the_input_images_pixels(canvases: Path) -> None:
    example = read_coco(canvases).examples[0]
    image = Image.open(example.path)
    small = bm.detect(image, model=MODEL)
    large = bm.detect(image.resize((128, 128), Image.Resampling.NEAREST), model=MODEL)
    assert len(small) == len(large) >= 1
    for a, b in zip(sorted(small, key=lambda d: d["box"]), sorted(large, key=lambda d: d["box"]), strict=True):
        assert a["label"] == b["label"]
        np.testing.assert_allclose(np.array(b["box"]) / 2, a["box"], atol=1.5)
    # a batch gives one list per image; a wide image is letterboxed, boxes still inside it
    wide = Image.new("RGB", (160, 64))
    wide.paste(image, (90, 0))
    for d in bm.detect([wide, image], model=MODEL)[0]:
        assert 0 <= d["box"][0] <= d["box"][2] <= 160 and 0 <= d["box"][1] <= d["box"][3] <= 64


def test_evaluation_reports_map(canvases: Path) -> None:
    report = evaluate_detection(MODEL, canvases)
    assert report["map_50"] > 0.8 and 0 < report["map"] <= report["map_50"]
    assert report["images"] == 12 and set(report["ap_50"]) <= {str(d) for d in range(10)}


def test_drawing_writes_a_png(canvases: Path, tmp_path: Path) -> None:
    example = read_coco(canvases).examples[0]
    found = bm.detect(str(example.path), model=MODEL)
    out = draw_detections(str(example.path), found, tmp_path / "boxes.png")
    with Image.open(out) as drawn:
        assert drawn.format == "PNG" and drawn.size == (512, 512)
        assert len(drawn.convert("RGB").getcolors(maxcolors=1 << 20)) > 2  # coloured boxes on the grey canvas


def test_bad_arguments_are_one_error(canvases: Path, tmp_path: Path) -> None:
    example = str(read_coco(canvases).examples[0].path)
    with pytest.raises(BigModelError, match="threshold must be a number between 0 and 1"):
        bm.detect(example, model=MODEL, threshold=1.5)
    with pytest.raises(BigModelError, match="not found"):
        bm.detect(str(tmp_path / "missing.png"), model=MODEL)
    with pytest.raises(BigModelError, match="detect needs a detector"):
        bm.detect(example, model="tiny-resnet-digits")


def test_cli_detect_writes_a_png_and_json(canvases: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = str(read_coco(canvases).examples[0].path)
    out = tmp_path / "drawn.png"
    assert main(["detect", example, "--model", MODEL, "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["file"] == example and result["out"] == str(out) and result["detections"]
    assert Image.open(out).format == "PNG"
    assert main(["detect", "--eval", "--data", str(canvases), "--model", MODEL]) == 0
    text = capsys.readouterr().out
    assert "mAP@0.5 " in text and "mAP@[.5:.95]" in text


@pytest.mark.parametrize(("make", "args", "message"), [
    ("empty", [], "empty (0-byte) file"),
    ("text", [], "not an image Pillow can read"),
    ("missing", [], "not found"),
    ("good", ["--threshold", "2"], "--threshold: expected a number between 0 and 1"),
    ("good", ["--threshold", "nan?"], "--threshold: expected a number between 0 and 1"),
    ("none", ["--eval"], "--eval needs --data"),
])
def test_cli_bad_input_is_one_error_line(make: str, args: list[str], message: str, canvases: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / f"{make}.png"
    if make == "empty":
        path.write_bytes(b"")
    elif make == "text":
        path.write_text("not a picture")
    elif make == "good":
        path = read_coco(canvases).examples[0].path
    argv = ["detect"] + ([] if make == "none" else [str(path)]) + ["--model", MODEL] + args
    assert exit_code(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def exit_code(argv: list[str]) -> int:
    """What `bigmodel ARGV` exits with (argparse's own errors leave through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
