"""Where a model runs: one rule for ``device=`` in Python and ``--device`` on the command line.

    auto   cuda if torch sees a GPU, else mps (Apple silicon), else cpu
    cpu    always there
    cuda   (or cuda:N) an NVIDIA GPU; mps an Apple GPU

A device this machine lacks is one BigModelError naming it and what is there, never a
traceback from deep inside torch. Tasks put their inputs on ``model.device``, so a model
moved once runs everywhere after.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .errors import BigModelError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
_default: str | None = None  # the CLI's --device (bigmodel/cli.py); Python callers pass device=


def available_devices() -> list[str]:
    """The device kinds this machine can run on, cpu last."""
    import torch

    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return [*found, "cpu"]


def resolve_device(device: str | torch.device | None, what: str = "device") -> torch.device | None:
    """``device`` as a torch.device that exists here (None stays None: leave the model where it is)."""
    import torch

    if device is None:
        return None
    if isinstance(device, torch.device):
        name = str(device)
    elif isinstance(device, str):
        name = device.strip().lower()
    else:
        raise BigModelError(f"{what} must be one of {', '.join(DEVICE_CHOICES)} (or cuda:N), "
                            f"got {type(device).__name__}")
    here = available_devices()
    if name == "auto":
        return torch.device(here[0])
    try:
        chosen = torch.device(name)
    except RuntimeError:
        raise BigModelError(f"{what} must be one of {', '.join(DEVICE_CHOICES)} (or cuda:N), got {device!r}") from None
    if chosen.type not in here:
        raise BigModelError(f"{what} {name!r} is not available on this machine (available: {', '.join(here)}); "
                            "use cpu or auto")
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise BigModelError(f"{what} {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return chosen


def to_device(model: Any, device: str | torch.device | None, what: str = "device") -> Any:
    """The model moved to ``device`` (in place, as nn.Module.to); unchanged when None."""
    target = resolve_device(device, what)
    if target is not None and getattr(model, "device", None) != target:
        model.to(target)
    return model


def batch_to_device(batch: Any, device: torch.device) -> Any:
    """Every tensor of a batch (dicts, lists and tuples of them, as collators build) on
    ``device``; anything else as it is."""
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=device.type == "cuda")
    if isinstance(batch, dict):
        return {k: batch_to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(batch_to_device(v, device) for v in batch)
    return batch


def set_default_device(device: str | None) -> None:
    """The device models loaded by name go to when a task is given none (the CLI's --device)."""
    global _default
    resolve_device(device, "--device")
    _default = device


def default_device() -> str | None:
    return _default


def device_name(text: str) -> str:
    """argparse type for --device: checked when parsed, so a missing GPU fails before loading."""
    try:
        resolve_device(text, "--device")
    except BigModelError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--device ")) from None
    return text


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", type=device_name, default=None, metavar="DEVICE",
                        help="where the model runs: cpu, cuda, cuda:N, mps or auto (GPU if there is one); "
                        "default: cpu")
