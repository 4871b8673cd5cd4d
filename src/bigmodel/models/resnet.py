"""ResNet (He et al., 2015): deep convolutional networks that learn residuals.

A residual block does not learn the mapping H(x) it is asked for; it learns the residual
F(x) = H(x) - x and adds its input back through an identity shortcut:

    y = ReLU(F(x) + x)                    (shapes equal: in = out channels, stride 1)
    y = ReLU(F(x) + BN(W_s * x))          (otherwise: a 1×1 conv of stride s projects x)

so a block that has nothing to add drives F towards 0, and gradients reach early layers
through the shortcuts undamped. Two kinds of F:

    BasicBlock  (ResNet-18/34):  F = BN(conv3×3(ReLU(BN(conv3×3_s(x)))))           expansion 1
    Bottleneck  (ResNet-50+):    F = BN(conv1×1(ReLU(BN(conv3×3_s(ReLU(BN(conv1×1(x))))))))
                                 the 1×1 convs squeeze to width = out / 4 and expand back    expansion 4

The stride s sits on the 3×3 conv ("ResNet v1.5", as in torchvision and microsoft/resnet-*);
``downsample_in_bottleneck`` moves it to the first 1×1 (the paper's v1).

The network: a stem (7×7 conv of stride 2 + 3×3 max-pool for 224×224 inputs; or, with
``stem="small"``, one 3×3 conv of stride 1 and no pool, for 8×8 to 32×32 images), then
stages of blocks; every stage after the first halves the resolution and sets the width.
Global average pooling gives one vector per image and a linear layer gives the logits:

    pixel_values (B, 3, H, W) -> stem (B, C0, H/4, W/4) -> stages (B, C_last, H/32, W/32)
        -> mean over H, W (B, C_last) -> logits (B, num_labels)

Configs follow transformers' ResNetConfig: ``hidden_sizes`` are the stage output widths
(after expansion), so ResNet-50 is hidden_sizes=(256, 512, 1024, 2048), depths=(3, 4, 6, 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import BigModel, ConfigBase, ModelOutput
from .resnet_family import MAX_STAGES, RESNET_PRESETS


@dataclass
class ResNetConfig(ConfigBase):
    model_type: ClassVar[str] = "resnet"

    num_channels: int = 3
    embedding_size: int = 64  # stem output width
    hidden_sizes: tuple[int, ...] = (256, 512, 1024, 2048)  # stage output widths
    depths: tuple[int, ...] = (3, 4, 6, 3)  # blocks per stage
    block: str = "bottleneck"  # "basic" | "bottleneck" (transformers: layer_type)
    stem: str = "imagenet"  # "imagenet" (7×7/2 conv + max-pool) | "small" (3×3/1 conv, no pool)
    downsample_in_first_stage: bool = False
    downsample_in_bottleneck: bool = False
    num_labels: int = 1000
    id2label: dict[int, str] | None = None
    classifier_dropout: float = 0.0
    zero_init_residual: bool = False  # start each block as the identity (last BN gamma = 0)

    def __post_init__(self) -> None:
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        self.depths = tuple(int(d) for d in self.depths)
        if self.block not in ("basic", "bottleneck"):
            raise ValueError(f"block must be 'basic' or 'bottleneck', got {self.block!r}")
        if self.stem not in ("imagenet", "small"):
            raise ValueError(f"stem must be 'imagenet' or 'small', got {self.stem!r}")
        if len(self.hidden_sizes) != len(self.depths) or not self.depths:
            raise ValueError(f"hidden_sizes {self.hidden_sizes} and depths {self.depths} must be "
                             f"non-empty and of equal length (one entry per stage)")
        if len(self.depths) > MAX_STAGES:
            raise ValueError(f"at most {MAX_STAGES} stages are supported, got {len(self.depths)}")
        if min(self.depths) < 1:
            raise ValueError(f"every stage needs at least one block, got depths {self.depths}")
        if self.block == "bottleneck" and any(h % Bottleneck.expansion for h in self.hidden_sizes):
            raise ValueError(f"bottleneck hidden_sizes must be multiples of {Bottleneck.expansion}, "
                             f"got {self.hidden_sizes}")
        if self.id2label is not None:
            self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
            self.num_labels = len(self.id2label)


def make_conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    """A bias-free conv ("same" padding for odd kernels) and the BatchNorm that follows it."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)
    return conv, nn.BatchNorm2d(out_channels)


def conv_bn(x: Tensor, conv: nn.Conv2d, bn: nn.BatchNorm2d) -> Tensor:
    """BN(conv(x)). In eval mode BN is affine, so it folds into the conv and costs no pass
    over the activations:

        BN(W * x) = W' * x + b',   s = γ / sqrt(σ² + ε),   W' = W · s (per output channel),
        b' = β - μ · s                                    (μ, σ²: running statistics)
    """
    if bn.training or bn.running_var is None:
        return bn(conv(x))
    scale = bn.weight.float() * torch.rsqrt(bn.running_var.float() + bn.eps)  # (C_out,)
    weight = (conv.weight.float() * scale.view(-1, 1, 1, 1)).to(conv.weight.dtype)
    bias = (bn.bias.float() - bn.running_mean.float() * scale).to(conv.weight.dtype)
    return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)


class Shortcut(nn.Module):
    """The projection W_s: 1×1 conv of stride s + BN, when x and F(x) differ in shape."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv, self.bn = make_conv_bn(in_channels, out_channels, 1, stride)

    def forward(self, x: Tensor) -> Tensor:
        return conv_bn(x, self.conv, self.bn)


def _shortcut(in_channels: int, out_channels: int, stride: int) -> Shortcut | None:
    return Shortcut(in_channels, out_channels, stride) if in_channels != out_channels or stride != 1 else None


class BasicBlock(nn.Module):
    """y = ReLU(F(x) + shortcut(x)), F = BN(conv3×3(ReLU(BN(conv3×3_s(x)))))."""

    expansion: ClassVar[int] = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, **_: object) -> None:
        super().__init__()
        self.conv1, self.bn1 = make_conv_bn(in_channels, out_channels, 3, stride)
        self.conv2, self.bn2 = make_conv_bn(out_channels, out_channels, 3)
        self.shortcut = _shortcut(in_channels, out_channels, stride)

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn2

    def forward(self, x: Tensor) -> Tensor:  # (B, C_in, H, W) -> (B, C_out, H/s, W/s)
        residual = x if self.shortcut is None else self.shortcut(x)
        h = F.relu(conv_bn(x, self.conv1, self.bn1), inplace=True)
        h = conv_bn(h, self.conv2, self.bn2)
        return F.relu(h.add_(residual), inplace=True)


class Bottleneck(nn.Module):
    """y = ReLU(F(x) + shortcut(x)); F squeezes to out/expansion channels, convolves, expands."""

    expansion: ClassVar[int] = 4

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 downsample_in_bottleneck: bool = False) -> None:
        super().__init__()
        width = out_channels // self.expansion
        stride_1x1, stride_3x3 = (stride, 1) if downsample_in_bottleneck else (1, stride)
        self.conv1, self.bn1 = make_conv_bn(in_channels, width, 1, stride_1x1)
        self.conv2, self.bn2 = make_conv_bn(width, width, 3, stride_3x3)
        self.conv3, self.bn3 = make_conv_bn(width, out_channels, 1)
        self.shortcut = _shortcut(in_channels, out_channels, stride)

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3

    def forward(self, x: Tensor) -> Tensor:  # (B, C_in, H, W) -> (B, C_out, H/s, W/s)
        residual = x if self.shortcut is None else self.shortcut(x)
        h = F.relu(conv_bn(x, self.conv1, self.bn1), inplace=True)
        h = F.relu(conv_bn(h, self.conv2, self.bn2), inplace=True)
        h = conv_bn(h, self.conv3, self.bn3)
        return F.relu(h.add_(residual), inplace=True)


class Stem(nn.Module):
    """ImageNet: 7×7 conv stride 2 + 3×3 max-pool stride 2 (H/4). Small: 3×3 conv stride 1 (H)."""

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__()
        small = config.stem == "small"
        self.conv, self.bn = make_conv_bn(config.num_channels, config.embedding_size, 3 if small else 7, 1 if small else 2)
        self.pool = nn.Identity() if small else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(F.relu(conv_bn(x, self.conv, self.bn), inplace=True))


def _init_resnet_weights(model: nn.Module, zero_init_residual: bool) -> None:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    if zero_init_residual:
        for module in model.modules():
            if isinstance(module, (BasicBlock, Bottleneck)):
                nn.init.zeros_(module.last_bn().weight)


class ResNetModel(BigModel):
    """Stem + stages: ``last_hidden_state`` (B, C, h, w) and ``pooler_output`` (B, C, 1, 1)."""

    family = "resnet"
    architecture = "ResNetModel"
    config_class = ResNetConfig

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__(config)
        block = BasicBlock if config.block == "basic" else Bottleneck
        self.stem = Stem(config)
        self.stages = nn.ModuleList()
        in_channels = config.embedding_size
        for index, (width, depth) in enumerate(zip(config.hidden_sizes, config.depths, strict=True)):
            stride = 2 if index > 0 or config.downsample_in_first_stage else 1
            blocks = [block(in_channels, width, stride, downsample_in_bottleneck=config.downsample_in_bottleneck)]
            blocks += [block(width, width, 1) for _ in range(depth - 1)]
            self.stages.append(nn.Sequential(*blocks))
            in_channels = width
        self.num_features = in_channels
        _init_resnet_weights(self, config.zero_init_residual)
        # NHWC ("channels_last") is the layout oneDNN's convolutions run fastest in on CPU
        # (and cuDNN's with tensor cores); loading weights copies into it, saving writes NCHW.
        self.to(memory_format=torch.channels_last)

    def forward_features(self, pixel_values: Tensor, output_hidden_states: bool = False) -> tuple[Tensor, tuple[Tensor, ...] | None]:
        """(B, C_in, H, W) -> the last feature map (B, C, h, w) [+ stem and stage outputs]."""
        if pixel_values.dim() != 4 or pixel_values.shape[1] != self.config.num_channels:
            raise ValueError(f"pixel_values must be (batch, {self.config.num_channels}, height, width), "
                             f"got {tuple(pixel_values.shape)}")
        h = self.stem(pixel_values.contiguous(memory_format=torch.channels_last))
        hidden: list[Tensor] = [h]
        for stage in self.stages:
            h = stage(h)
            hidden.append(h)
        return h, (tuple(hidden) if output_hidden_states else None)

    def forward(self, pixel_values: Tensor, output_hidden_states: bool = False) -> ModelOutput:
        features, hidden = self.forward_features(pixel_values, output_hidden_states)
        pooled = features.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1), as transformers returns it
        return ModelOutput(last_hidden_state=features, pooler_output=pooled, hidden_states=hidden)


class ResNetForImageClassification(BigModel):
    """ResNet body + global average pool + linear classifier; ``labels`` (B,) gives a loss."""

    family = "resnet"
    architecture = "ResNetForImageClassification"
    config_class = ResNetConfig

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__(config)
        self.resnet = ResNetModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(self.resnet.num_features, config.num_labels)
        bound = 1.0 / self.resnet.num_features**0.5
        nn.init.uniform_(self.classifier.weight, -bound, bound)
        nn.init.zeros_(self.classifier.bias)

    def forward_features(self, pixel_values: Tensor) -> Tensor:
        """(B, C_in, H, W) -> the last feature map (B, C, h, w)."""
        return self.resnet.forward_features(pixel_values)[0]

    def forward_head(self, features: Tensor, pre_logits: bool = False) -> Tensor:
        """Feature map (B, C, h, w) -> logits (B, num_labels), or the pooled (B, C) vector."""
        pooled = features.mean(dim=(2, 3))
        return pooled if pre_logits else self.classifier(self.dropout(pooled))

    def forward(self, pixel_values: Tensor, labels: Tensor | None = None,
                output_hidden_states: bool = False) -> ModelOutput:
        features, hidden = self.resnet.forward_features(pixel_values, output_hidden_states)
        logits = self.forward_head(features)
        loss = F.cross_entropy(logits.float(), labels.reshape(-1)) if labels is not None else None
        return ModelOutput(logits=logits, loss=loss, last_hidden_state=features,
                           pooler_output=features.mean(dim=(2, 3), keepdim=True), hidden_states=hidden)

    def load_torchvision_weights(self, state: dict[str, Tensor]) -> None:
        """Copy a torchvision ``resnetNN`` state dict (conv1, bn1, layer1.0.conv1, ..., fc).

        Checkpoints from before PyTorch 0.4 lack the BatchNorm step counters; they get 0.
        """
        from .convert import from_hf_state_dict
        from .resnet_family import RESNET_MAP

        state = dict(state)
        for key in [k for k in state if k.endswith(".running_mean")]:
            state.setdefault(key.removesuffix("running_mean") + "num_batches_tracked", torch.tensor(0))
        from_hf_state_dict(self, state, RESNET_MAP, source="torchvision state dict")


__all__ = [
    "RESNET_PRESETS",
    "BasicBlock",
    "Bottleneck",
    "ResNetConfig",
    "ResNetForImageClassification",
    "ResNetModel",
]
