"""``[task] kind = "image_classification"``: train a ResNet on an image folder or the digits.

``data.path`` is a folder with one subfolder per class, or ``"digits"`` (scikit-learn's 8×8
handwritten digits, seeded stratified split, ``test_size`` held out for validation).
``data.validation_path`` is an optional second folder; a folder without one holds out
``test_size`` of its images. The loss is cross-entropy over the classes:

    L = -(1/B) Σ_b log softmax(logits_b)[y_b]

The random crop and flip of each example are drawn from the generator the trainer gives the
collator for that step, so a resumed run sees the same augmented images. The evaluation
transform is saved beside every checkpoint as ``preprocessor_config.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..data.images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageClassificationDataset,
    ImagePreprocessor,
    digits_dataset,
    image_folder,
)
from ..errors import BigModelError
from .objectives import Objective, register_objective


@dataclass
class ImageOptions:
    image_size: int = 224
    crop_pct: float = 0.875
    resample: str = "bicubic"
    mean: list[float] = field(default_factory=lambda: list(IMAGENET_MEAN))
    std: list[float] = field(default_factory=lambda: list(IMAGENET_STD))
    padding: int = 0  # random crop: pad by this many pixels and crop back
    flip: float = 0.5  # horizontal flip probability (0 for digits and text)
    test_size: float = 0.3  # held out when there is no separate validation data
    on_error: str = "skip"  # an unreadable image in a folder: "skip" (warn) | "raise"


class _Raw(torch.utils.data.Dataset):
    """Items as (source, label): the collator augments them with the step's generator."""

    def __init__(self, dataset: ImageClassificationDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self.dataset.items[index]


@register_objective
class ImageClassification(Objective):
    name = "image_classification"
    default_architecture = "ResNetForImageClassification"
    Options = ImageOptions

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        o = self.options
        self.preprocessor = ImagePreprocessor(size=o.image_size, crop_pct=o.crop_pct, mean=tuple(o.mean),
                                              std=tuple(o.std), resample=o.resample, padding=o.padding,
                                              flip=o.flip)
        self._datasets: tuple[ImageClassificationDataset, ImageClassificationDataset | None] | None = None

    def build_tokenizer(self) -> Any:
        return None

    def _load(self) -> tuple[ImageClassificationDataset, ImageClassificationDataset | None]:
        if self._datasets is not None:
            return self._datasets
        o, data = self.options, self.config.data
        if not data.path:
            raise BigModelError('config data.path is empty: an image folder (one subfolder per class) or "digits"')
        if data.path == "digits":
            train = digits_dataset("train", self.preprocessor, test_size=o.test_size, seed=self.config.train.seed)
            val = digits_dataset("test", self.preprocessor, test_size=o.test_size, seed=self.config.train.seed)
        else:
            train = image_folder(data.path, self.preprocessor, on_error=o.on_error, progress=True)
            if data.validation_path:
                val = image_folder(data.validation_path, self.preprocessor, on_error=o.on_error)
                if val.classes != train.classes:
                    raise BigModelError(f"data.validation_path has classes {val.classes}, data.path has "
                                        f"{train.classes}; they must be the same folders")
            else:
                train, val = _hold_out(train, o.test_size, self.config.train.seed)
        self._datasets = (train, val)
        return self._datasets

    def model_defaults(self) -> dict[str, Any]:
        train, _ = self._load()
        return {"num_labels": len(train.classes), "id2label": train.id2label}

    def build_datasets(self) -> tuple[Any, Any | None]:
        train, val = self._load()
        return _Raw(train), val

    def collate(self, items: list[Any], rng: np.random.Generator) -> dict[str, Tensor]:
        if items and isinstance(items[0], dict):  # validation items: already transformed
            pixels = [item["pixel_values"] for item in items]
            labels = [item["labels"] for item in items]
        else:
            pixels = [self.preprocessor.train_transform(source, rng) for source, _ in items]
            labels = [label for _, label in items]
        return {"pixel_values": torch.stack(pixels), "labels": torch.tensor(labels, dtype=torch.long)}

    def loss(self, model: Any, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        out = model(**batch)
        accuracy = (out.logits.argmax(-1) == batch["labels"]).float().mean()
        return out.loss, {"accuracy": float(accuracy)}

    def save_artifacts(self, directory: Any) -> None:
        ImagePreprocessor(size=self.preprocessor.size, crop_pct=self.preprocessor.crop_pct,
                          mean=self.preprocessor.mean, std=self.preprocessor.std,
                          resample=self.preprocessor.resample).save_pretrained(directory)


def _hold_out(dataset: ImageClassificationDataset, fraction: float,
              seed: int) -> tuple[ImageClassificationDataset, ImageClassificationDataset | None]:
    """Split off ``fraction`` of every class (at least one image when the class has two)."""
    if not 0 <= fraction < 1:
        raise BigModelError(f"task.test_size must be in [0, 1), got {fraction}")
    if fraction == 0:
        return dataset, None
    rng = np.random.default_rng(seed)
    held: list[int] = []
    labels = np.asarray(dataset.labels)
    for label in range(len(dataset.classes)):
        members = rng.permutation(np.flatnonzero(labels == label))
        take = min(len(members) - 1, max(1, round(fraction * len(members)))) if len(members) > 1 else 0
        held.extend(members[:take].tolist())
    held_set = set(held)
    keep = [item for i, item in enumerate(dataset.items) if i not in held_set]
    out = [dataset.items[i] for i in sorted(held_set)]
    train = ImageClassificationDataset(keep, dataset.classes, dataset.preprocessor, train=True)
    val = ImageClassificationDataset(out, dataset.classes, dataset.preprocessor, train=False)
    return train, val


__all__ = ["ImageClassification", "ImageOptions"]
