"""Optional ``torch.compile`` of a model's forward for generation.

The model's ``forward`` is replaced (on this instance only) by a compiled version with
dynamic sequence lengths, so one compilation serves the prefill and every decoding step
whatever the cache length. The first call compiles (a minute or more on a small CPU).
Measured on this project's 2-core machine, the gain for batch-1 decoding is small: the
eager decode path already avoids most per-token Python overhead, and the matrix-vector
products that remain are memory-bound in both cases.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import BigModelError


def compile_for_decoding(model: Any) -> Any:
    """Compile ``model.forward`` in place; returns the model."""
    if not isinstance(model, torch.nn.Module):
        raise BigModelError(f"compile needs a torch model, got {type(model).__name__}")
    if getattr(model, "_bigmodel_compiled", False):
        return model
    model.forward = torch.compile(model.forward, dynamic=True)
    model._bigmodel_compiled = True
    return model
