"""Seeded canvases of scattered handwritten digits, with their boxes: a detection data set.

Each canvas is black; a few of scikit-learn's 8×8 digits are pasted on it (ink bright), each
scaled by a random factor and placed at a random position where it overlaps the others
little. The box of a digit is the box of its ink (the rows and columns of the 8×8 image with
any non-zero pixel), scaled like the digit. Written as a folder::

    OUT/images/000000.png ...
    OUT/annotations.json      COCO style: images, annotations (bbox = [x, y, w, h]), categories

Training canvases draw from the digits' training split, ``split="test"`` from the held-out
30% (the same stratified, seeded split as ``tiny-resnet-digits``), so a held-out canvas set
(another seed, the test digits) holds no digit image the model was trained on.

    python -m bigmodel.data.digit_canvases data/canvases/train --count 3000 --seed 0
    python -m bigmodel.data.digit_canvases data/canvases/test --count 500 --seed 1 --split test
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import BigModelError
from ..fileio import atomic_write_text
from .detection import ANNOTATIONS_FILE
from .images import digit_images


@dataclass
class CanvasSettings:
    size: int = 64  # canvas side in pixels
    min_digits: int = 1
    max_digits: int = 4
    min_scale: float = 1.5  # a digit is drawn 8·scale pixels wide
    max_scale: float = 3.5
    max_overlap: float = 0.1  # at most this share of the smaller box may be covered by another
    split: str = "train"  # which digits: "train" or "test" (the held-out 30%)
    classes: tuple[int, ...] = tuple(range(10))  # which digits appear (and are the categories)

    def check(self) -> None:
        if not 1 <= self.min_digits <= self.max_digits:
            raise BigModelError(f"need 1 <= min_digits <= max_digits, got {self.min_digits}, {self.max_digits}")
        if not 0 < self.min_scale <= self.max_scale or 8 * self.max_scale > self.size:
            raise BigModelError(f"scales must satisfy 0 < min_scale <= max_scale <= size / 8, got "
                                f"{self.min_scale}, {self.max_scale} for size {self.size}")
        if not self.classes or any(c not in range(10) for c in self.classes) or \
                len(set(self.classes)) != len(self.classes):
            raise BigModelError(f"classes must be distinct digits 0-9, got {list(self.classes)}")


def _ink_box(digit: np.ndarray) -> tuple[int, int, int, int]:
    """(col0, row0, col1, row1), exclusive ends, of the non-zero pixels of an 8×8 digit."""
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _overlap(a: list[float], b: list[float]) -> float:
    """Intersection area over the smaller box's area (boxes x0, y0, x1, y1)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / smaller


def draw_canvas(rng: np.random.Generator, images: list[np.ndarray], labels: list[int],
                settings: CanvasSettings) -> tuple[np.ndarray, list[list[float]], list[int]]:
    """One (size, size) uint8 canvas, its boxes [x0, y0, x1, y1] in pixels and their digits."""
    size = settings.size
    canvas = np.zeros((size, size), dtype=np.uint8)
    boxes: list[list[float]] = []
    digits: list[int] = []
    wanted = int(rng.integers(settings.min_digits, settings.max_digits + 1))
    for _ in range(wanted):
        for _attempt in range(30):  # a canvas that is too full keeps fewer digits
            pick = int(rng.integers(len(images)))
            side = int(round(8 * float(rng.uniform(settings.min_scale, settings.max_scale))))
            x, y = int(rng.integers(0, size - side + 1)), int(rng.integers(0, size - side + 1))
            c0, r0, c1, r1 = _ink_box(images[pick])
            scale = side / 8
            box = [x + c0 * scale, y + r0 * scale, x + c1 * scale, y + r1 * scale]
            if all(_overlap(box, other) <= settings.max_overlap for other in boxes):
                patch = np.asarray(Image.fromarray(images[pick]).resize((side, side), Image.Resampling.BILINEAR))
                region = canvas[y:y + side, x:x + side]
                np.maximum(region, patch, out=region)
                boxes.append([round(v, 2) for v in box])
                digits.append(labels[pick])
                break
    return canvas, boxes, digits


def write_canvases(out: str | Path, count: int, *, seed: int = 0, settings: CanvasSettings | None = None) -> Path:
    """Write ``count`` canvases and ``annotations.json`` under ``out``; returns the JSON path."""
    settings = settings or CanvasSettings()
    settings.check()
    if count < 1:
        raise BigModelError(f"count must be a positive integer, got {count}")
    images, labels = digit_images(settings.split)
    chosen = [i for i, label in enumerate(labels) if label in settings.classes]
    images, labels = [images[i] for i in chosen], [labels[i] for i in chosen]
    rng = np.random.default_rng(seed)
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    coco: dict[str, list] = {"images": [], "annotations": [],
                             "categories": [{"id": d + 1, "name": str(d)} for d in sorted(settings.classes)]}
    for index in range(count):
        canvas, boxes, digits = draw_canvas(rng, images, labels, settings)
        name = f"images/{index:06d}.png"
        Image.fromarray(canvas).convert("RGB").save(out / name)
        coco["images"].append({"id": index, "file_name": name, "width": settings.size, "height": settings.size})
        for box, digit in zip(boxes, digits, strict=True):
            w, h = round(box[2] - box[0], 2), round(box[3] - box[1], 2)
            coco["annotations"].append({"id": len(coco["annotations"]), "image_id": index, "category_id": digit + 1,
                                        "bbox": [box[0], box[1], w, h], "area": round(w * h, 2), "iscrowd": 0})
    path = out / ANNOTATIONS_FILE
    atomic_write_text(path, json.dumps(coco, indent=1) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bigmodel.data.digit_canvases",
                                     description="write seeded canvases of scattered digits + COCO boxes")
    parser.add_argument("out", help="output folder (images/ and annotations.json)")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=["train", "test"], default="train",
                        help="which digits to draw from (test = the held-out 30%%)")
    defaults = CanvasSettings()
    parser.add_argument("--size", type=int, default=defaults.size)
    parser.add_argument("--min-digits", type=int, default=defaults.min_digits)
    parser.add_argument("--max-digits", type=int, default=defaults.max_digits)
    parser.add_argument("--min-scale", type=float, default=defaults.min_scale)
    parser.add_argument("--max-scale", type=float, default=defaults.max_scale)
    parser.add_argument("--digits", default="0123456789", help="which digits to draw (default all: 0123456789)")
    args = parser.parse_args(argv)
    try:
        if not args.digits.isdigit():
            raise BigModelError(f"--digits must be digits such as 0123456789, got {args.digits!r}")
        settings = CanvasSettings(size=args.size, min_digits=args.min_digits, max_digits=args.max_digits,
                                  min_scale=args.min_scale, max_scale=args.max_scale, split=args.split,
                                  classes=tuple(int(c) for c in args.digits))
        path = write_canvases(args.out, args.count, seed=args.seed, settings=settings)
    except BigModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.count} canvases and {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["ANNOTATIONS_FILE", "CanvasSettings", "draw_canvas", "write_canvases"]
