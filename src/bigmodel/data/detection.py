"""Detection data: a folder of images + a COCO-style JSON of boxes, checked as it is read.

The JSON (``annotations.json`` in the folder, or any JSON file) holds::

    {"images":      [{"id": 0, "file_name": "images/000000.png", "width": 64, "height": 64}, ...],
     "annotations": [{"id": 0, "image_id": 0, "category_id": 4, "bbox": [x, y, w, h]}, ...],
     "categories":  [{"id": 4, "name": "3"}, ...]}

``file_name`` is relative to the JSON's folder; ``bbox`` is COCO's [x, y, width, height] in
pixels. Model labels are the categories in the order the file lists them (0, 1, ...). A box
that leaves its image, an unknown ``category_id`` or ``image_id``, or a missing image is one
error naming the file, the annotation and the problem.

The model sees every image "letterboxed": the longer side resized to ``size``, the rest
padded with black on the right and bottom, so boxes only scale, by ``size / max(W, H)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..errors import BigModelError
from ..fileio import read_json
from .images import ImageSource, load_image

ANNOTATIONS_FILE = "annotations.json"
_EDGE_TOLERANCE = 1e-3  # pixels: rounding in a writer's [x, y, w, h]


@dataclass
class DetectionExample:
    path: Path
    width: int
    height: int
    boxes: np.ndarray  # (n, 4) float32, x0 y0 x1 y1 in pixels
    labels: np.ndarray  # (n,) int64, model label indices


@dataclass
class CocoDataset:
    source: Path
    categories: list[str]  # label index -> name
    category_ids: list[int]  # label index -> the JSON's category id
    examples: list[DetectionExample] = field(default_factory=list)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.categories))


def annotations_path(data: str | Path) -> Path:
    """The JSON for ``data``: the file itself, or ``annotations.json`` in the folder."""
    path = Path(data).expanduser()
    if path.is_dir():
        path = path / ANNOTATIONS_FILE
        if not path.is_file():
            raise BigModelError(f"{data} has no {ANNOTATIONS_FILE}; pass the COCO JSON file or its folder")
        return path
    if not path.exists():
        raise BigModelError(f"detection data {str(data)!r} not found")
    return path


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def _categories(path: Path, coco: dict[str, Any]) -> tuple[list[str], list[int]]:
    """(names, ids) of the categories, in file order (label i = the i-th category)."""
    names, ids = [], []
    for i, cat in enumerate(coco["categories"]):
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), int) or "name" not in cat:
            raise BigModelError(f"{path}: categories[{i}] needs an integer 'id' and a 'name', got {cat!r}")
        if cat["id"] in ids:
            raise BigModelError(f"{path}: categories[{i}] repeats id {cat['id']}")
        ids.append(cat["id"])
        names.append(str(cat["name"]))
    if not names:
        raise BigModelError(f"{path}: 'categories' is empty; name at least one category")
    return names, ids


def _images(path: Path, coco: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """image id -> its entry, each with a file name and a positive integer size."""
    images: dict[int, dict[str, Any]] = {}
    for i, image in enumerate(coco["images"]):
        if not isinstance(image, dict) or not isinstance(image.get("id"), int) or \
                not isinstance(image.get("file_name"), str):
            raise BigModelError(f"{path}: images[{i}] needs an integer 'id' and a 'file_name', got {image!r}")
        width, height = image.get("width"), image.get("height")
        if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
            raise BigModelError(f"{path}: images[{i}] ({image['file_name']}) needs positive integer "
                                f"'width' and 'height', got {width!r} and {height!r}")
        if image["id"] in images:
            raise BigModelError(f"{path}: images[{i}] repeats id {image['id']}")
        images[image["id"]] = image
    return images


def _box(path: Path, i: int, ann: Any, images: dict[int, dict[str, Any]],
         ids: list[int]) -> tuple[int, list[float]]:
    """(image id, [x0, y0, x1, y1]) of ``annotations[i]``, checked against its image."""
    where = f"{path}: annotation {ann.get('id', i) if isinstance(ann, dict) else i} (annotations[{i}])"
    if not isinstance(ann, dict):
        raise BigModelError(f"{where} must be an object, got {ann!r}")
    image = images.get(ann.get("image_id"))
    if image is None:
        raise BigModelError(f"{where} has image_id {ann.get('image_id')!r}, which no entry of 'images' has")
    if ann.get("category_id") not in ids:
        raise BigModelError(f"{where} names category_id {ann.get('category_id')!r}, which is not in "
                            f"'categories' (ids {', '.join(map(str, ids))})")
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_number(v) for v in bbox)):
        raise BigModelError(f"{where} needs bbox = [x, y, width, height] (4 numbers), got {bbox!r}")
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        raise BigModelError(f"{where}: bbox {bbox} has a width or height <= 0")
    t = _EDGE_TOLERANCE
    if x < -t or y < -t or x + w > image["width"] + t or y + h > image["height"] + t:
        raise BigModelError(f"{where}: bbox {bbox} (x0, y0, x1, y1 = {x:g}, {y:g}, {x + w:g}, {y + h:g}) "
                            f"falls outside its {image['width']}×{image['height']} image {image['file_name']}")
    return image["id"], [x, y, x + w, y + h]


def read_coco(data: str | Path, *, check_files: bool = True) -> CocoDataset:
    """Read and check a COCO-style detection JSON (see the module docstring)."""
    path = annotations_path(data)
    coco = read_json(path, "detection annotations")
    if not isinstance(coco, dict):
        raise BigModelError(f"{path}: must hold a JSON object with images, annotations and categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise BigModelError(f"{path}: needs a list {key!r}")
    names, ids = _categories(path, coco)
    label_of = {cid: index for index, cid in enumerate(ids)}
    images = _images(path, coco)
    boxes: dict[int, list[list[float]]] = {k: [] for k in images}
    labels: dict[int, list[int]] = {k: [] for k in images}
    for i, ann in enumerate(coco["annotations"]):
        image_id, box = _box(path, i, ann, images, ids)
        boxes[image_id].append(box)
        labels[image_id].append(label_of[ann["category_id"]])
    dataset = CocoDataset(path, names, ids)
    for image_id, image in images.items():
        file = path.parent / image["file_name"]
        if check_files:
            _check_image_file(path, image, file)
        dataset.examples.append(DetectionExample(
            file, image["width"], image["height"],
            np.asarray(boxes[image_id], dtype=np.float32).reshape(-1, 4),
            np.asarray(labels[image_id], dtype=np.int64)))
    return dataset


def _check_image_file(path: Path, image: dict[str, Any], file: Path) -> None:
    """The file exists, is an image, and has the size the JSON gives (boxes are in its pixels)."""
    if not file.is_file():
        raise BigModelError(f"{path}: image {image['id']} file {image['file_name']!r} not found in {path.parent}")
    try:
        with Image.open(file) as opened:  # reads the header only
            size = opened.size
    except (OSError, SyntaxError, ValueError) as exc:
        raise BigModelError(f"{path}: image {image['id']} file {image['file_name']!r} is not an image Pillow "
                            f"can read ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if size != (image["width"], image["height"]):
        raise BigModelError(f"{path}: image {image['id']} file {image['file_name']!r} is {size[0]}×{size[1]} "
                            f"pixels, but the JSON says width {image['width']}, height {image['height']}")


def letterbox(image: ImageSource, size: int) -> tuple[Image.Image, float]:
    """The RGB image with its longer side resized to ``size``, padded to size × size; the scale."""
    rgb = load_image(image)
    width, height = rgb.size
    scale = size / max(width, height)
    if scale != 1:
        rgb = rgb.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BILINEAR)
    if rgb.size != (size, size):
        canvas = Image.new("RGB", (size, size))
        canvas.paste(rgb, (0, 0))
        rgb = canvas
    return rgb, scale


def detection_pixels(image: ImageSource, size: int, mean: float, std: float) -> tuple[Tensor, float]:
    """(3, size, size) float32 (x / 255 - mean) / std of the letterboxed image, and its scale."""
    boxed, scale = letterbox(image, size)
    array = (np.asarray(boxed, dtype=np.float32) / 255.0 - mean) / std  # (H, W, 3)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))), scale


class DetectionDataset(torch.utils.data.Dataset):
    """Items: (index, pixels (3, S, S), {"boxes": (n, 4) in letterboxed pixels, "labels": (n,)})."""

    def __init__(self, coco: CocoDataset, size: int, mean: float, std: float) -> None:
        self.coco, self.size, self.mean, self.std = coco, size, mean, std

    def __len__(self) -> int:
        return len(self.coco.examples)

    def __getitem__(self, index: int) -> tuple[int, Tensor, dict[str, Tensor]]:
        example = self.coco.examples[index]
        try:
            pixels, scale = detection_pixels(example.path, self.size, self.mean, self.std)
        except BigModelError as exc:
            raise BigModelError(f"{self.coco.source}: {exc}") from None
        target = {"boxes": torch.from_numpy(example.boxes * scale), "labels": torch.from_numpy(example.labels)}
        return index, pixels, target


__all__ = ["ANNOTATIONS_FILE", "CocoDataset", "DetectionDataset", "DetectionExample", "annotations_path",
           "detection_pixels", "letterbox", "read_coco"]
