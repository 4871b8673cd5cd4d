"""Digit canvases and COCO-style boxes: seeded, and every bad annotation is one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bigmodel.data.detection import DetectionDataset, letterbox, read_coco
from bigmodel.data.digit_canvases import CanvasSettings, main, write_canvases
from bigmodel.errors import BigModelError

SMALL = CanvasSettings(size=32, max_digits=2, min_scale=1.5, max_scale=2.5)


def test_canvases_are_seeded_and_boxes_hold_the_ink(tmp_path: Path) -> None:
    a = write_canvases(tmp_path / "a", 6, seed=3, settings=SMALL)
    b = write_canvases(tmp_path / "b", 6, seed=3, settings=SMALL)
    assert a.read_text() == b.read_text()
    coco = read_coco(a.parent)
    assert coco.categories == [str(d) for d in range(10)]
    assert len(coco.examples) == 6
    for example in coco.examples:
        pixels = np.asarray(Image.open(example.path).convert("L"))
        assert pixels.shape == (32, 32) and 1 <= len(example.boxes) <= 2
        ink = pixels > 64  # the bilinear upscaling spreads a faint fringe up to a pixel beyond
        inside = np.zeros_like(ink)
        for x0, y0, x1, y1 in example.boxes:
            inside[max(0, int(y0) - 1):int(np.ceil(y1)) + 1, max(0, int(x0) - 1):int(np.ceil(x1)) + 1] = True
        assert not (ink & ~inside).any(), "ink outside every box"


def test_command_line_writes_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "c"), "--count", "2", "--size", "32", "--max-scale", "3", "--digits", "07"]) == 0
    coco = json.loads((tmp_path / "c" / "annotations.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["0", "7"]
    assert main([str(tmp_path / "d"), "--count", "2", "--size", "16", "--max-scale", "3"]) == 2
    assert "scales must satisfy" in capsys.readouterr().err


def coco_file(tmp_path: Path, **changes: object) -> Path:
    Image.new("RGB", (20, 10)).save(tmp_path / "a.png")
    coco = {"images": [{"id": 1, "file_name": "a.png", "width": 20, "height": 10}],
            "annotations": [{"id": 7, "image_id": 1, "category_id": 3, "bbox": [2, 1, 5, 4]}],
            "categories": [{"id": 3, "name": "cat"}, {"id": 5, "name": "dog"}]}
    for key, value in changes.items():
        if key == "annotation":
            coco["annotations"][0].update(value)  # type: ignore[arg-type]
        else:
            coco[key] = value
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps(coco))
    return path


def test_a_good_file_reads_into_labels_and_corner_boxes(tmp_path: Path) -> None:
    coco = read_coco(coco_file(tmp_path))
    assert coco.categories == ["cat", "dog"] and coco.id2label == {0: "cat", 1: "dog"}
    np.testing.assert_allclose(coco.examples[0].boxes, [[2, 1, 7, 5]])
    assert coco.examples[0].labels.tolist() == [0]
    # letterboxed to 40: the longer side (20) doubles, boxes with it, black padding below
    _, pixels_target = DetectionDataset(coco, 40, 0.5, 0.5)[0][1:]
    np.testing.assert_allclose(pixels_target["boxes"].numpy(), [[4, 2, 14, 10]])
    boxed, scale = letterbox(Image.new("RGB", (20, 10), "white"), 40)
    assert scale == 2.0 and boxed.size == (40, 40) and boxed.getpixel((0, 39)) == (0, 0, 0)


@pytest.mark.parametrize(("changes", "message"), [
    ({"annotation": {"bbox": [18, 1, 5, 4]}}, r"annotation 7 \(annotations\[0\]\): bbox \[18, 1, 5, 4\] .* "
                                              r"falls outside its 20×10 image a.png"),
    ({"annotation": {"bbox": [-3, 1, 5, 4]}}, "falls outside"),
    ({"annotation": {"category_id": 9}}, r"annotation 7 .* names category_id 9, which is not in 'categories' "
                                         r"\(ids 3, 5\)"),
    ({"annotation": {"image_id": 2}}, "annotation 7 .* has image_id 2, which no entry of 'images' has"),
    ({"annotation": {"bbox": [1, 2, 3]}}, r"needs bbox = \[x, y, width, height\]"),
    ({"annotation": {"bbox": [1, 2, 0, 3]}}, "width or height <= 0"),
    ({"images": [{"id": 1, "file_name": "gone.png", "width": 20, "height": 10}]}, "'gone.png' not found"),
    ({"categories": []}, "'categories' is empty"),
    ({"images": [{"id": 1, "file_name": "a.png", "width": 30, "height": 10}]},
     "'a.png' is 20×10 pixels, but the JSON says width 30, height 10"),
    ({"images": [{"id": 1, "file_name": "boxes.json", "width": 20, "height": 10}]}, "is not an image Pillow can read"),
    ({"annotations": {}}, "needs a list 'annotations'"),
])
def test_bad_annotations_name_the_file_the_annotation_and_the_problem(tmp_path: Path, changes: dict,
                                                                     message: str) -> None:
    path = coco_file(tmp_path, **changes)
    with pytest.raises(BigModelError, match=message) as info:
        read_coco(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_folder_without_annotations_or_a_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BigModelError, match="has no annotations.json"):
        read_coco(tmp_path)
    with pytest.raises(BigModelError, match="not found"):
        read_coco(tmp_path / "nope")
    (tmp_path / "x.json").write_text("[1, 2]")
    with pytest.raises(BigModelError, match="must hold a JSON object"):
        read_coco(tmp_path / "x.json")
