"""A one-stage object detector on ResNet features: CenterNet (Zhou et al., 2019, "Objects as Points").

An object is its center point. The network paints, for every class c, a heatmap of where
object centers are, and at every cell it also regresses the box size and the sub-cell offset
of the center. A box is read off at each local maximum of the heatmap, so no anchors and no
non-maximum suppression are needed.

    pixel_values (B, 3, H, W)
      -> ResNet stem + stages  C_s (B, hidden_sizes[s], H/r_s, W/r_s)   r_s: stage strides
      -> neck: top-down sum of 1×1 laterals, up to the stage of stride R (``output_stride``)
              P_last = L_last(C_last),   P_s = L_s(C_s) + upsample_2×(P_{s+1})     (B, D, H/R, W/R)
      -> three heads, each conv3×3 + ReLU + conv1×1 on P:
              heatmap logits  (B, num_labels, H/R, W/R)   Ŷ = σ(logits)
              size            (B, 2, H/R, W/R)            (ŵ, ĥ) in output cells
              offset          (B, 2, H/R, W/R)            (ôx, ôy) in [0, 1) of a cell

Targets, for an object k of class c_k with box (x0, y0, x1, y1) in input pixels:

    p_k = ((x0 + x1) / 2, (y0 + y1) / 2) / R        center in output cells (real)
    p̃_k = ⌊p_k⌋                                     the cell that holds it
    Y_cxy = max_{k: c_k = c} exp(-((x - p̃_kx)² + (y - p̃_ky)²) / (2 σ_k²))
    σ_k = max(σ_min, sqrt(w_k h_k) / (R · 6))        w, h of the box in pixels
    s_k = (w_k, h_k) / R                            size in output cells
    o_k = p_k - p̃_k                                 offset lost to the floor

Losses (N = number of objects in the batch, at least 1):

    L_heat = -(1/N) Σ_cxy { (1 - Ŷ)^α log Ŷ                      if Y_cxy = 1
                          { (1 - Y)^β Ŷ^α log(1 - Ŷ)              otherwise
             (a focal loss whose negatives near a center are down-weighted; α = 2, β = 4)
    L_size = (1/N) Σ_k |Ŝ_{p̃_k} - s_k|₁          L_off = (1/N) Σ_k |Ô_{p̃_k} - o_k|₁
    L = L_heat + λ_size L_size + λ_off L_off      (λ_size = 0.1, λ_off = 1 as in the paper)

Decoding: a cell is a peak when it equals the maximum of its 3×3 neighbourhood
(``max_pool2d(Ŷ, 3, 1, 1) == Ŷ``); the best ``max_detections`` peaks over all classes become
boxes ((x + ôx - ŵ/2) R, (y + ôy - ĥ/2) R, (x + ôx + ŵ/2) R, (y + ôy + ĥ/2) R) with score Ŷ.

This is not a transformers architecture: its checkpoints keep bigmodel's own weight names
under ``model_type = "bigmodel-detector"``, ``architectures = ["BigModelDetector"]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import BigModel, ConfigBase, ModelOutput
from .resnet import ResNetConfig, ResNetModel

FOCAL_ALPHA = 2.0
FOCAL_BETA = 4.0
HEATMAP_PRIOR = 0.1  # initial Ŷ everywhere: bias = log(p / (1 - p)), as CenterNet starts


@dataclass
class DetectorConfig(ConfigBase):
    """A ResNet backbone (the ResNetConfig fields), a neck and the CenterNet heads."""

    model_type: ClassVar[str] = "bigmodel-detector"

    # backbone (see ResNetConfig)
    num_channels: int = 3
    embedding_size: int = 32
    hidden_sizes: tuple[int, ...] = (32, 64, 128)
    depths: tuple[int, ...] = (1, 1, 1)
    block: str = "basic"
    stem: str = "small"
    downsample_in_first_stage: bool = True
    # neck and heads
    output_stride: int = 4  # R: one heatmap cell per R × R input pixels
    neck_channels: int = 64  # D
    head_channels: int = 64
    num_labels: int = 10
    id2label: dict[int, str] | None = None
    size_weight: float = 0.1  # λ_size
    offset_weight: float = 1.0  # λ_off
    min_sigma: float = 0.5  # σ_min of the target Gaussians, in cells
    max_detections: int = 100
    # preprocessing: the longer side is resized to image_size, then (x / 255 - mean) / std
    image_size: int = 64
    image_mean: float = 0.5
    image_std: float = 0.5

    def __post_init__(self) -> None:
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        self.depths = tuple(int(d) for d in self.depths)
        if self.id2label is not None:
            self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
            self.num_labels = len(self.id2label)
        if self.num_labels < 1:
            raise ValueError(f"num_labels must be at least 1, got {self.num_labels}")
        self.backbone_config()  # checks the backbone fields
        strides = self.stage_strides()
        if self.output_stride not in strides:
            raise ValueError(f"output_stride {self.output_stride} must be one of the stage strides {strides}")
        if self.image_size < 1 or self.image_std <= 0:
            raise ValueError(f"image_size must be positive and image_std > 0, got {self.image_size}, {self.image_std}")

    def backbone_config(self) -> ResNetConfig:
        return ResNetConfig(num_channels=self.num_channels, embedding_size=self.embedding_size,
                            hidden_sizes=self.hidden_sizes, depths=self.depths, block=self.block,
                            stem=self.stem, downsample_in_first_stage=self.downsample_in_first_stage,
                            num_labels=1)

    def stage_strides(self) -> list[int]:
        """r_s: input pixels per feature cell after each stage."""
        stride = 1 if self.stem == "small" else 4
        out = []
        for index in range(len(self.depths)):
            if index > 0 or self.downsample_in_first_stage:
                stride *= 2
            out.append(stride)
        return out


def conv_head(in_channels: int, hidden: int, out_channels: int) -> nn.Sequential:
    """conv3×3 + ReLU + conv1×1: one prediction per output cell."""
    return nn.Sequential(nn.Conv2d(in_channels, hidden, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(hidden, out_channels, 1))


class TopDownNeck(nn.Module):
    """P_s = L_s(C_s) + upsample_2×(P_{s+1}) from the last stage down to stride R."""

    def __init__(self, widths: list[int], channels: int) -> None:
        super().__init__()
        self.laterals = nn.ModuleList(nn.Conv2d(w, channels, 1) for w in widths)

    def forward(self, features: list[Tensor]) -> Tensor:  # C_s (B, w_s, h_s, w_s), finest first
        p = self.laterals[-1](features[-1])
        for lateral, c in zip(reversed(self.laterals[:-1]), reversed(features[:-1]), strict=True):
            p = lateral(c) + F.interpolate(p, size=c.shape[-2:], mode="nearest")
        return p  # (B, D, H/R, W/R)


class ResNetDetector(BigModel):
    """CenterNet heads on a ResNet: ``forward(pixel_values, targets=None)``; see the module docstring.

    ``targets`` is one dict per image with ``boxes`` (n, 4) in input pixels (x0, y0, x1, y1)
    and ``labels`` (n,); with them the output carries ``loss`` and ``loss_parts``.
    """

    family = "detection"
    architecture = "BigModelDetector"
    config_class = DetectorConfig

    def __init__(self, config: DetectorConfig) -> None:
        super().__init__(config)
        self.backbone = ResNetModel(config.backbone_config())
        strides = config.stage_strides()
        self.first_stage = strides.index(config.output_stride)
        self.neck = TopDownNeck(list(config.hidden_sizes[self.first_stage:]), config.neck_channels)
        self.heatmap_head = conv_head(config.neck_channels, config.head_channels, config.num_labels)
        self.size_head = conv_head(config.neck_channels, config.head_channels, 2)
        self.offset_head = conv_head(config.neck_channels, config.head_channels, 2)
        nn.init.constant_(self.heatmap_head[-1].bias, math.log(HEATMAP_PRIOR / (1 - HEATMAP_PRIOR)))

    def forward(self, pixel_values: Tensor, targets: list[dict[str, Tensor]] | None = None) -> ModelOutput:
        _, hidden = self.backbone.forward_features(pixel_values, output_hidden_states=True)
        stages = list(hidden[1:])  # hidden[0] is the stem
        p = self.neck(stages[self.first_stage:]).contiguous()  # (B, D, h, w)
        heatmap = self.heatmap_head(p).float()  # (B, C, h, w) logits
        size = self.size_head(p).float()  # (B, 2, h, w)
        offset = self.offset_head(p).float()  # (B, 2, h, w)
        out = DetectionOutput(logits=heatmap, size=size, offset=offset, last_hidden_state=p)
        if targets is not None:
            out.loss, out.loss_parts = self.loss(out, targets)
        return out

    # -- training ---------------------------------------------------------------------
    def encode_targets(self, targets: list[dict[str, Tensor]], shape: tuple[int, int]) -> dict[str, Tensor]:
        """Heatmap Y (B, C, h, w) and, per object, its batch index, cell, size and offset."""
        cfg, stride = self.config, float(self.config.output_stride)
        h, w = shape
        heat = torch.zeros(len(targets), cfg.num_labels, h, w)
        ys, xs = torch.arange(h, dtype=torch.float32).view(h, 1), torch.arange(w, dtype=torch.float32).view(1, w)
        batch, cells, sizes, offsets = [], [], [], []
        for b, target in enumerate(targets):
            boxes = target["boxes"].float().reshape(-1, 4)
            for box, label in zip(boxes, target["labels"].reshape(-1).tolist(), strict=True):
                bw, bh = float(box[2] - box[0]), float(box[3] - box[1])
                cx, cy = float(box[0] + box[2]) / 2 / stride, float(box[1] + box[3]) / 2 / stride
                ix, iy = min(max(int(cx), 0), w - 1), min(max(int(cy), 0), h - 1)
                sigma = max(cfg.min_sigma, math.sqrt(max(bw * bh, 0.0)) / (stride * 6))
                gauss = torch.exp(-((xs - ix) ** 2 + (ys - iy) ** 2) / (2 * sigma**2))  # (h, w)
                heat[b, label] = torch.maximum(heat[b, label], gauss)
                batch.append(b)
                cells.append(iy * w + ix)
                sizes.append((bw / stride, bh / stride))
                offsets.append((cx - ix, cy - iy))
        return {"heatmap": heat, "batch": torch.tensor(batch, dtype=torch.long),
                "cell": torch.tensor(cells, dtype=torch.long),
                "size": torch.tensor(sizes, dtype=torch.float32).reshape(-1, 2),
                "offset": torch.tensor(offsets, dtype=torch.float32).reshape(-1, 2)}

    def loss(self, out: DetectionOutput, targets: list[dict[str, Tensor]]) -> tuple[Tensor, dict[str, float]]:
        """L = L_heat + λ_size L_size + λ_off L_off (module docstring)."""
        device = out.logits.device
        encoded = {k: v.to(device) for k, v in self.encode_targets(targets, tuple(out.logits.shape[-2:])).items()}
        n = max(1, encoded["batch"].numel())
        l_heat = focal_loss(out.logits, encoded["heatmap"]) / n
        b, cell = encoded["batch"], encoded["cell"]
        # Ŝ, Ô at each object's cell: (B, 2, h*w) -> (N, 2)
        size_at = out.size.flatten(2)[b, :, cell]
        offset_at = out.offset.flatten(2)[b, :, cell]
        l_size = (size_at - encoded["size"]).abs().sum() / n
        l_off = (offset_at - encoded["offset"]).abs().sum() / n
        total = l_heat + self.config.size_weight * l_size + self.config.offset_weight * l_off
        parts = {"heatmap_loss": float(l_heat.detach()), "size_loss": float(l_size.detach()),
                 "offset_loss": float(l_off.detach())}
        return total, parts

    # -- inference --------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, out: DetectionOutput, max_detections: int | None = None) -> list[dict[str, Tensor]]:
        """Per image: ``boxes`` (k, 4) in input pixels, ``scores`` (k,), ``labels`` (k,), best first."""
        k_max = max_detections or self.config.max_detections
        heat = torch.sigmoid(out.logits)  # Ŷ (B, C, h, w)
        peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
        batch, classes, h, w = heat.shape
        k = min(k_max, classes * h * w)
        scores, index = peaks.flatten(1).topk(k)  # (B, k) over (class, y, x)
        labels = index // (h * w)
        cell = index % (h * w)
        ys, xs = (cell // w).float(), (cell % w).float()
        size = out.size.flatten(2).gather(2, cell.unsqueeze(1).expand(-1, 2, -1))  # (B, 2, k)
        offset = out.offset.flatten(2).gather(2, cell.unsqueeze(1).expand(-1, 2, -1))
        cx, cy = xs + offset[:, 0], ys + offset[:, 1]
        half_w, half_h = size[:, 0].clamp(min=0) / 2, size[:, 1].clamp(min=0) / 2
        boxes = torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=-1) * self.config.output_stride
        return [{"boxes": boxes[i], "scores": scores[i], "labels": labels[i]} for i in range(batch)]


@dataclass
class DetectionOutput(ModelOutput):
    """``logits``: heatmap logits (B, C, h, w); ``size`` and ``offset``: (B, 2, h, w)."""

    size: Tensor | None = None
    offset: Tensor | None = None
    loss_parts: dict[str, float] | None = None


def focal_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Σ over cells of CenterNet's penalty-reduced focal loss (not yet divided by N).

    Written with log σ(z) and log(1 - σ(z)) = log σ(-z), which stay finite for any logit z.
    """
    pred = torch.sigmoid(logits)
    log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
    positive = target.eq(1).float()
    pos = (1 - pred) ** FOCAL_ALPHA * log_p * positive
    neg = (1 - target) ** FOCAL_BETA * pred**FOCAL_ALPHA * log_not_p * (1 - positive)
    return -(pos.sum() + neg.sum())


__all__ = ["DetectionOutput", "DetectorConfig", "ResNetDetector", "focal_loss"]
