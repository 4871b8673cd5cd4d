"""``[task] kind = "detection"``: train the CenterNet-style detector on images + COCO boxes.

``data.path`` is a folder with ``annotations.json`` (or the JSON file itself; see
:mod:`bigmodel.data.detection`); ``data.validation_path`` an optional second one, else
``test_size`` of the images are held out. The loss is the detector's
L = L_heat + λ_size L_size + λ_off L_off (:mod:`bigmodel.models.detection`).

Evaluation reports the loss parts and, over the whole validation pass, mAP@0.5 and
mAP@[.5:.95] (:mod:`bigmodel.detection_metrics`): the detections of every validation batch
are kept until :meth:`Detection.summarize` scores them.

    python -m bigmodel.data.digit_canvases data/canvases/train --count 3000 --seed 0
    bigmodel train configs/detector-digits.toml
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..data.detection import CocoDataset, DetectionDataset, read_coco
from ..detection_metrics import mean_average_precision
from ..errors import BigModelError
from .objectives import Objective, register_objective

EVAL_SCORE_THRESHOLD = 0.001  # detections below this are left out of mAP (they cannot raise it much)


@dataclass
class DetectionOptions:
    test_size: float = 0.1  # held out when there is no data.validation_path


class _Subset(torch.utils.data.Dataset):
    def __init__(self, dataset: DetectionDataset, indices: list[int]) -> None:
        self.dataset, self.indices = dataset, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        _, pixels, target = self.dataset[self.indices[index]]
        return index, pixels, target


@register_objective
class Detection(Objective):
    name = "detection"
    default_architecture = "BigModelDetector"
    Options = DetectionOptions

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._coco: tuple[CocoDataset, CocoDataset | None] | None = None
        self._pending: dict[int, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] = {}
        self._labels: list[str] = []

    def build_tokenizer(self) -> Any:
        return None

    def _read(self) -> tuple[CocoDataset, CocoDataset | None]:
        if self._coco is None:
            data = self.config.data
            if not data.path:
                raise BigModelError("config data.path is empty: a folder with annotations.json (COCO boxes) "
                                    "or the JSON file; `python -m bigmodel.data.digit_canvases` writes one")
            train = read_coco(data.path)
            val = read_coco(data.validation_path) if data.validation_path else None
            if val is not None and val.categories != train.categories:
                raise BigModelError(f"data.validation_path has categories {val.categories}, data.path has "
                                    f"{train.categories}; they must be the same")
            self._coco = (train, val)
            self._labels = train.categories
        return self._coco

    def model_defaults(self) -> dict[str, Any]:
        train, _ = self._read()
        return {"num_labels": len(train.categories), "id2label": train.id2label}

    def build_datasets(self) -> tuple[Any, Any | None]:
        train_coco, val_coco = self._read()
        cfg = self.model_config()
        train = DetectionDataset(train_coco, cfg.image_size, cfg.image_mean, cfg.image_std)
        if val_coco is not None:
            return train, DetectionDataset(val_coco, cfg.image_size, cfg.image_mean, cfg.image_std)
        fraction = self.options.test_size
        if not 0 <= fraction < 1:
            raise BigModelError(f"task.test_size must be in [0, 1), got {fraction}")
        order = np.random.default_rng(self.config.train.seed).permutation(len(train))
        held = int(round(fraction * len(train))) if len(train) > 1 else 0
        if held == 0:
            return train, None
        return _Subset(train, sorted(order[held:].tolist())), _Subset(train, sorted(order[:held].tolist()))

    def build_model(self) -> Any:
        model = super().build_model()
        self._model_config = model.config
        return model

    def model_config(self) -> Any:
        """The detector's config (image size and normalization live there)."""
        config = getattr(self, "_model_config", None)
        if config is None:
            from ..models.detection import DetectorConfig

            config = DetectorConfig.from_dict(self.model_defaults() | self.config.model.config)
        return config

    def collate(self, items: list[Any], rng: np.random.Generator) -> dict[str, Any]:
        return {"pixel_values": torch.stack([pixels for _, pixels, _ in items]),
                "targets": [target for _, _, target in items],
                "index": torch.tensor([index for index, _, _ in items], dtype=torch.long)}

    def count_tokens(self, batch: dict[str, Any]) -> int:
        return int(batch["pixel_values"].shape[0])  # images per step

    def loss(self, model: Any, batch: dict[str, Any]) -> tuple[Tensor, dict[str, float]]:
        out = model(batch["pixel_values"], targets=batch["targets"])
        if not model.training:
            core = getattr(model, "module", model)
            for index, found, target in zip(batch["index"].tolist(), core.decode(out), batch["targets"], strict=True):
                keep = found["scores"] >= EVAL_SCORE_THRESHOLD
                self._pending[index] = ({k: v[keep].cpu().numpy() for k, v in found.items()},
                                        {k: v.cpu().numpy() for k, v in target.items()})
        return out.loss, dict(out.loss_parts or {})

    def summarize(self, metrics: dict[str, float]) -> dict[str, float]:
        if self._pending:
            found = [self._pending[i][0] for i in sorted(self._pending)]
            truth = [self._pending[i][1] for i in sorted(self._pending)]
            self._pending = {}
            report = mean_average_precision(found, truth)
            metrics["map_50"] = report["map_50"]
            metrics["map"] = report["map"]
        return metrics


__all__ = ["Detection", "DetectionOptions"]
