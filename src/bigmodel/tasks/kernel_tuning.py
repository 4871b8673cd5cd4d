"""Measuring the fastest linear kernels for a model's shapes ahead of its first generation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import BigModelError
from ..hub import create, resolve_dtype
from ..registry import get_preset
from .common import get_model

TUNED_DTYPES = ("fp32", "bf16")


def _module(model: str | Path | nn.Module) -> nn.Module:
    """The model itself; a preset with a config is built on the meta device (its shapes only,
    no weights needed); any other name or folder is loaded."""
    if isinstance(model, nn.Module):
        return model
    preset = get_preset(str(model))
    if preset is not None and preset.config:
        with torch.device("meta"):
            return create(preset.name)
    return get_model(model)


def linear_shapes(model: str | Path | nn.Module) -> list[tuple[int, int, bool]]:
    """The distinct (out_features, in_features, has_bias) of a model's ``nn.Linear`` layers."""
    module = _module(model)
    shapes: dict[tuple[int, int, bool], None] = {}
    for layer in module.modules():
        if type(layer) is nn.Linear:
            shapes[(layer.out_features, layer.in_features, layer.bias is not None)] = None
    if not shapes:
        raise BigModelError(f"model {model!r} has no linear layers to tune")
    return list(shapes)


def tanh_gelu_widths(model: str | Path | nn.Module) -> list[int]:
    """The distinct widths (d_ff) of a model's feed-forward layers with the tanh GELU."""
    from ..nn.feedforward import TANH_GELUS, FeedForward

    return list({layer.fc_in.out_features: None for layer in _module(model).modules()
                 if isinstance(layer, FeedForward) and layer.activation in TANH_GELUS})


def tune_kernels(model: str | Path | nn.Module, dtype: str = "fp32",
                 rows: list[int] | None = None, quantize: str | None = None) -> dict[str, Any]:
    """Measure (afresh) and cache the kernel for every linear shape of ``model`` at every row
    bucket (or at ``rows``), and its tanh GELU's (GPT-2's) where it has one; returns the machine
    key, the cache file and one row per choice.

    ``quantize="int8"`` tunes the int8 weight-only kernels instead (``--quantize int8``'s
    layers, x in ``dtype``; rows 1 and 2-8 unless ``rows`` says otherwise).
    """
    from ..nn import int8_choice, kernel_cache, kernel_choice, native_gelu

    if dtype not in TUNED_DTYPES:
        raise BigModelError(f"dtype must be one of {', '.join(TUNED_DTYPES)}, got {dtype!r}")
    if quantize not in (None, "int8"):
        raise BigModelError(f"quantize must be int8 (or left out), got {quantize!r}")
    if kernel_cache.mode() == "off":
        raise BigModelError(f"{kernel_cache.ENV}=off: kernel choice is turned off, nothing to tune")
    if rows is not None and (not rows or any(r < 1 for r in rows)):
        raise BigModelError(f"rows must be positive integers, got {rows}")
    module = _module(model)
    shapes = linear_shapes(module)
    torch_dtype = resolve_dtype(dtype)
    assert torch_dtype is not None
    tune = int8_choice.tune if quantize == "int8" else kernel_choice.tune
    choices = tune(shapes, torch_dtype, rows) if rows else tune(shapes, torch_dtype)
    widths = tanh_gelu_widths(module)
    if widths and quantize is None:
        choices += native_gelu.tune(widths, torch_dtype, rows) if rows else native_gelu.tune(widths, torch_dtype)
    key = kernel_cache.machine_key()
    path = kernel_cache.cache_path(key)
    return {"machine": key, "cache": None if path is None else str(path), "choices": choices}
