"""Object detection: boxes, labels and scores for images, drawings of them, and mAP on a data set.

    image -> letterbox to the model's image_size -> ResNetDetector -> heatmap peaks -> boxes

Boxes come back in the input image's own pixels, ``[x0, y0, x1, y1]`` (the letterbox scale
undone, clipped to the image). See :mod:`bigmodel.models.detection` for how a box is read
off the heatmap, and :mod:`bigmodel.detection_metrics` for mAP.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..data.detection import detection_pixels, read_coco
from ..data.images import ImageSource, load_image
from ..detection_metrics import mean_average_precision
from ..devices import to_device
from ..errors import BigModelError
from ..fileio import atomic_write
from ..models.base import BigModel
from .common import get_model

DEFAULT_MODEL = "tiny-detector-digits"
DETECTOR_ARCHITECTURES = ("BigModelDetector",)
EVAL_THRESHOLD = 0.001  # mAP scores every detection down to here (the ranking decides AP)
_COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
            (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]


def load_detector(model: str | Path | BigModel, dtype: str | None = None) -> BigModel:
    network = get_model(model, dtype=dtype)
    if network.architecture not in DETECTOR_ARCHITECTURES:
        raise BigModelError(f"model {getattr(network, 'name_or_path', model)!s} is a {network.architecture}; "
                            f"detect needs a detector ({', '.join(DETECTOR_ARCHITECTURES)})")
    return network.eval()


def check_threshold(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise BigModelError(f"threshold must be a number between 0 and 1, got {threshold!r}")
    return float(threshold)


def _label_names(model: BigModel) -> list[str]:
    id2label = model.config.id2label or {}
    return [str(id2label.get(i, f"LABEL_{i}")) for i in range(model.config.num_labels)]


def predict_boxes(model: BigModel, images: Sequence[ImageSource], *, threshold: float,
                  batch_size: int = 32, max_detections: int | None = None) -> list[list[dict[str, Any]]]:
    """One list of ``{"label", "score", "box"}`` per image, best first, in image pixels."""
    cfg = model.config
    names = _label_names(model)
    results: list[list[dict[str, Any]]] = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            chunk = [load_image(image) for image in images[start:start + batch_size]]
            prepared = [detection_pixels(image, cfg.image_size, cfg.image_mean, cfg.image_std) for image in chunk]
            pixels = torch.stack([p for p, _ in prepared]).to(device=model.device, dtype=model.dtype)
            found = model.decode(model(pixels), max_detections)
            for image, (_, scale), item in zip(chunk, prepared, found, strict=True):
                width, height = image.size
                keep = item["scores"] >= threshold
                boxes = (item["boxes"][keep].float().cpu() / scale).numpy()
                boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
                boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
                scores, labels = item["scores"][keep].tolist(), item["labels"][keep].tolist()
                results.append([{"label": names[c], "score": float(s), "box": [round(float(v), 2) for v in box]}
                                for c, s, box in zip(labels, scores, boxes, strict=True)])
    return results


def detect(
    images: ImageSource | Sequence[ImageSource],
    model: str | Path | BigModel = DEFAULT_MODEL,
    *,
    threshold: float = 0.5,
    max_detections: int | None = None,
    batch_size: int = 32,
    dtype: str | None = None,
    device: str | torch.device | None = None,
) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
    """Objects in one image (a path, a PIL image or an (H, W[, C]) array):
    ``[{"label", "score", "box": [x0, y0, x1, y1]}, ...]`` with score >= ``threshold``, best
    first, boxes in the image's pixels. A list of images gives a list of those lists.
    ``device``: "cpu", "cuda", "mps" or "auto" (see :mod:`bigmodel.devices`)."""
    threshold = check_threshold(threshold)
    single = isinstance(images, (str, Path, Image.Image, np.ndarray))
    items = [images] if single else list(images) if isinstance(images, (list, tuple)) else None
    if items is None:
        raise BigModelError(f"images must be a path, a PIL image, an array or a list of them, "
                            f"got {type(images).__name__}")
    if max_detections is not None and (isinstance(max_detections, bool) or not isinstance(max_detections, int)
                                       or max_detections < 1):
        raise BigModelError(f"max_detections must be a positive integer, got {max_detections!r}")
    if not items:
        return []
    loaded = [load_image(item) for item in items]  # a bad file is named before any work is done
    network = to_device(load_detector(model, dtype), device)
    results = predict_boxes(network, loaded, threshold=threshold, batch_size=batch_size,
                            max_detections=max_detections)
    return results[0] if single else results


def draw_detections(image: ImageSource, detections: Sequence[dict[str, Any]], out: str | Path, *,
                    scale: int | None = None) -> Path:
    """Write ``image`` with each detection's box and "label score" drawn on it, as a PNG.

    Small images are enlarged (nearest neighbour, by ``scale``; default: to about 512 pixels)
    so that the labels can be read.
    """
    rgb = load_image(image)
    factor = scale or max(1, 512 // max(rgb.size))
    if factor > 1:
        rgb = rgb.resize((rgb.width * factor, rgb.height * factor), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(rgb)
    for item in detections:
        x0, y0, x1, y1 = (float(v) * factor for v in item["box"])
        colour = _COLOURS[zlib.crc32(str(item["label"]).encode()) % len(_COLOURS)]
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=2)
        text = f"{item['label']} {item['score']:.2f}"
        left, top, right, bottom = draw.textbbox((x0, y0), text)
        lift = bottom - top + 2
        ty = y0 - lift if y0 - lift >= 0 else y0
        draw.rectangle([x0, ty, x0 + right - left + 3, ty + lift], fill=colour)
        draw.text((x0 + 2, ty), text, fill=(0, 0, 0))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda p: rgb.save(p, format="PNG"))
    return out


def evaluate_detection(model: str | Path | BigModel, data: str | Path, *, batch_size: int = 32,
                       limit: int | None = None) -> dict[str, Any]:
    """mAP@0.5, mAP@0.75 and mAP@[.5:.95] (COCO's 101-point AP, mean over classes) of ``model``
    on a folder with ``annotations.json`` or a COCO JSON file; AP per class as well.

    The data's categories must be among the model's labels (matched by name).
    """
    network = load_detector(model)
    coco = read_coco(data)
    names = _label_names(network)
    unknown = [c for c in coco.categories if c not in names]
    if unknown:
        raise BigModelError(f"{coco.source} has categor{'ies' if len(unknown) > 1 else 'y'} "
                            f"{', '.join(unknown)} that the model does not know; its labels are {', '.join(names)}")
    examples = coco.examples[:limit] if limit else coco.examples
    started = time.perf_counter()
    found = predict_boxes(network, [e.path for e in examples], threshold=EVAL_THRESHOLD, batch_size=batch_size)
    seconds = time.perf_counter() - started
    index_of = {name: i for i, name in enumerate(names)}
    predictions = [{"boxes": np.asarray([d["box"] for d in dets], dtype=np.float64).reshape(-1, 4),
                    "scores": np.asarray([d["score"] for d in dets]),
                    "labels": np.asarray([index_of[d["label"]] for d in dets], dtype=np.int64)} for dets in found]
    truth = [{"boxes": e.boxes, "labels": np.asarray([index_of[coco.categories[c]] for c in e.labels],
                                                     dtype=np.int64)} for e in examples]
    report = mean_average_precision(predictions, truth, class_names=names)
    return report | {"model": str(getattr(network, "name_or_path", model)), "data": str(data), "seconds": seconds}


def format_detection_report(report: dict[str, Any]) -> str:
    lines = [f"mAP@0.5       {report['map_50']:.4f}",
             f"mAP@0.75      {report['map_75']:.4f}",
             f"mAP@[.5:.95]  {report['map']:.4f}",
             f"images {report['images']}, ground-truth boxes {report['ground_truth_boxes']}, "
             f"{report.get('seconds', 0.0):.1f} s",
             "AP@0.5 per class: " + "  ".join(f"{k} {v:.3f}" for k, v in report["ap_50"].items())]
    return "\n".join(lines)


__all__ = ["check_threshold", "detect", "draw_detections", "evaluate_detection", "format_detection_report",
           "load_detector", "predict_boxes"]
