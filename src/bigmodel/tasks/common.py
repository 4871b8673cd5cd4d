"""Loading what a task needs once: the model and its tokenizer, cached by name."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..devices import default_device, resolve_device, to_device
from ..errors import BigModelError
from ..models.base import BigModel
from ..registry import get_preset

if TYPE_CHECKING:
    import torch


def resolve_tokenizer_source(name_or_path: str | Path) -> str:
    """The tokenizer that goes with a model name: the preset's, or the model folder itself."""
    preset = get_preset(str(name_or_path))
    if preset is not None and preset.tokenizer and not preset.weights.startswith("shipped:"):
        return preset.tokenizer
    from ..hub import resolve_model_dir

    return str(resolve_model_dir(name_or_path))


@functools.lru_cache(maxsize=8)
def _cached_model(name: str, architecture: str | None, dtype: str | None, device: str) -> BigModel:
    from ..hub import load

    return load(name, architecture=architecture, dtype=dtype, device=None if device == "cpu" else device)


@functools.lru_cache(maxsize=8)
def _cached_tokenizer(name: str) -> Any:
    from ..tokenization import load_tokenizer

    return load_tokenizer(resolve_tokenizer_source(name))


def get_model(model: str | Path | BigModel, *, architecture: str | None = None,
              dtype: str | None = None, device: str | torch.device | None = None) -> BigModel:
    """A loaded model (kept in a small cache so repeated calls do not reload it), on ``device``
    (see bigmodel.devices; None: a model passed in stays where it is, a name loads on the CPU)."""
    if isinstance(model, BigModel):
        return to_device(model, device)
    if not isinstance(model, (str, Path)):
        raise BigModelError(f"model must be a name, a folder or a bigmodel model, got {type(model).__name__}")
    target = resolve_device(device if device is not None else default_device())
    return _cached_model(str(model), architecture, dtype, str(target) if target is not None else "cpu")


def get_model_for(model: str | Path | BigModel, architectures: tuple[str, ...], needed: str, *,
                  dtype: str | None = None) -> BigModel:
    """:func:`get_model`, or one error saying what ``model`` is and that it is not ``needed``."""
    network = get_model(model, dtype=dtype)
    if network.architecture not in architectures:
        raise BigModelError(f"model {getattr(network, 'name_or_path', model)!s} is a {network.architecture}, "
                            f"not {needed}")
    return network


def get_tokenizer(model: str | Path | BigModel, tokenizer: Any = None) -> Any:
    """The tokenizer passed in, or the one that belongs with ``model``."""
    if tokenizer is not None and not isinstance(tokenizer, (str, Path)):
        return tokenizer
    if tokenizer is not None:
        return _cached_tokenizer(str(tokenizer))
    name = getattr(model, "name_or_path", None) if isinstance(model, BigModel) else model
    if name is None:
        raise BigModelError("this model was not loaded by name: pass tokenizer= as well")
    return _cached_tokenizer(str(name))

