"""Image classification: top-k labels for images, and evaluation on a labelled image folder.

    p(class | image) = softmax(ResNet(preprocess(image)))

The model folder carries the labels (config.json ``id2label``) and the preprocessing
(``preprocessor_config.json``: image size, crop, mean / std), so an image goes through
exactly the transform the model was trained with.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..data.images import (
    ImageClassificationDataset,
    ImagePreprocessor,
    ImageSource,
    digits_dataset,
    image_folder,
)
from ..devices import to_device
from ..errors import BigModelError
from ..metrics import classification_report, plot_confusion_matrix
from ..models.base import BigModel
from .common import get_model

DEFAULT_MODEL = "tiny-resnet-digits"
IMAGE_ARCHITECTURES = ("ResNetForImageClassification",)


@functools.lru_cache(maxsize=8)
def _folder_preprocessor(name: str) -> ImagePreprocessor:
    from ..hub import resolve_model_dir

    return ImagePreprocessor.from_pretrained(resolve_model_dir(name))


def get_preprocessor(model: str | Path | BigModel, preprocessor: ImagePreprocessor | None = None) -> ImagePreprocessor:
    """The preprocessor passed in, or the one saved beside the model (ImageNet defaults if none)."""
    if preprocessor is not None:
        return preprocessor
    name = getattr(model, "name_or_path", None) if isinstance(model, BigModel) else model
    if name is None:
        return ImagePreprocessor()
    return _folder_preprocessor(str(name))


def load_image_classifier(model: str | Path | BigModel, dtype: str | None = None) -> BigModel:
    network = get_model(model, dtype=dtype)
    if network.architecture not in IMAGE_ARCHITECTURES:
        raise BigModelError(f"model {getattr(network, 'name_or_path', model)!s} is a {network.architecture}; "
                            f"classify-image needs an image classifier ({', '.join(IMAGE_ARCHITECTURES)})")
    return network.eval()


def label_names(model: BigModel) -> list[str]:
    id2label = model.config.id2label or {}
    return [str(id2label.get(i, f"LABEL_{i}")) for i in range(model.config.num_labels)]


def predict_logits(model: BigModel, preprocessor: ImagePreprocessor, images: Sequence[Any], *,
                   batch_size: int = 32, progress: bool = False, desc: str = "classify") -> torch.Tensor:
    """(N, num_labels) float32 logits; ``images`` are sources or already made (3, S, S) tensors."""
    from tqdm.auto import tqdm

    chunks = []
    starts = range(0, len(images), batch_size)
    with torch.inference_mode():
        for start in tqdm(starts, desc=desc, unit="batch", disable=not progress, leave=False):
            batch = images[start:start + batch_size]
            pixels = torch.stack([x if isinstance(x, torch.Tensor) else preprocessor.transform(x) for x in batch])
            pixels = pixels.to(device=model.device, dtype=model.dtype)
            chunks.append(model(pixels).logits.float().cpu())
    return torch.cat(chunks) if chunks else torch.empty(0, model.config.num_labels)


def classify_image(
    images: ImageSource | Sequence[ImageSource],
    model: str | Path | BigModel = DEFAULT_MODEL,
    *,
    top_k: int = 5,
    preprocessor: ImagePreprocessor | None = None,
    batch_size: int = 32,
    dtype: str | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
    """The ``top_k`` most likely labels, ``[{"label", "score"}, ...]`` best first, for one image
    (a path, a PIL image or an (H, W[, C]) array); a list of images gives a list of those."""
    single = isinstance(images, (str, Path, Image.Image, np.ndarray))
    items = [images] if single else list(images) if isinstance(images, (list, tuple)) else None
    if items is None:
        raise BigModelError(f"images must be a path, a PIL image, an array or a list of them, "
                            f"got {type(images).__name__}")
    if not items:
        return []
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise BigModelError(f"top_k must be a positive integer, got {top_k!r}")
    network = to_device(load_image_classifier(model, dtype), device)
    pre = get_preprocessor(model, preprocessor)
    # read every image first, so that a bad file is named before any work is done
    pixels = [pre.transform(item) for item in items]
    probs = torch.softmax(predict_logits(network, pre, pixels, batch_size=batch_size, progress=progress), dim=-1)
    names = label_names(network)
    keep = min(top_k, len(names))
    results = []
    for row in probs:
        values, index = row.topk(keep)
        results.append([{"label": names[i], "score": float(v)}
                        for v, i in zip(values.tolist(), index.tolist(), strict=True)])
    return results[0] if single else results


def evaluate_images(
    model: str | Path | BigModel,
    data: str | Path,
    *,
    preprocessor: ImagePreprocessor | None = None,
    batch_size: int = 64,
    on_error: str = "skip",
    plot: str | Path | None = None,
    test_size: float = 0.3,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Accuracy, per-class precision / recall / F1, macro-F1 and confusion matrix on ``data``:
    an image folder (one subfolder per class, named like the model's labels) or ``"digits"``
    (the held-out split of the digits). ``plot`` writes the confusion matrix as PNG.

    A class folder whose name is not one of the model's labels is an error naming it.
    """
    network = load_image_classifier(model)
    pre = get_preprocessor(model, preprocessor)
    names = label_names(network)
    dataset: ImageClassificationDataset
    if str(data) == "digits":
        dataset = digits_dataset("test", pre, train=False, test_size=test_size, seed=seed)
    else:
        dataset = image_folder(data, pre, on_error=on_error, progress=progress)
    unknown = [c for c in dataset.classes if c not in names]
    if unknown:
        shown = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
        raise BigModelError(f"{data} has class folder{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                            f"that the model was not trained on; its labels are: {shown}")
    label_of = {c: names.index(c) for c in dataset.classes}
    y_true = [label_of[dataset.classes[label]] for label in dataset.labels]
    started = time.perf_counter()
    logits = predict_logits(network, pre, [source for source, _ in dataset.items], batch_size=batch_size,
                            progress=progress, desc="evaluate")
    seconds = time.perf_counter() - started
    report = classification_report(y_true, logits.argmax(-1).tolist(), names)
    report |= {"model": str(getattr(network, "name_or_path", model)), "data": str(data), "seconds": seconds}
    skipped = getattr(dataset, "skipped", [])
    if skipped:
        report["skipped"] = [str(path) for path, _ in skipped]
    if plot is not None:
        report["plot"] = str(plot_confusion_matrix(report, plot, title=Path(str(data)).name))
    return report


__all__ = ["classify_image", "evaluate_images", "get_preprocessor", "label_names", "load_image_classifier"]
