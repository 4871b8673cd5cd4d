"""Plan before you run: parameters, FLOPs, memory and time of a model, from its config only.

No weights are read and no model is built: the family turns the config into a shape
(sources.py, models/shapes.py), the formulas give parameters, FLOPs and memory
(formulas.py), and a calibration of this machine, when there is one, the time
(calibration.py, timing.py). So a 1.5B-parameter model plans as fast as a tiny one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import BigModelError, did_you_mean
from ..models.shapes import ModelShape
from .calibration import Calibration, load_calibration
from .formatting import format_plans
from .formulas import OPTIMIZER_STATES, flop_counts, memory_needs, parameter_counts
from .sources import model_shape
from .timing import step_times

DTYPE_BYTES = {"fp32": 4, "float32": 4, "bf16": 2, "bfloat16": 2, "fp16": 2, "float16": 2}
CANONICAL_DTYPE = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
OPTIMIZERS = tuple(OPTIMIZER_STATES)


@dataclass
class Plan:
    model: str
    family: str
    architecture: str
    settings: dict[str, Any]
    parameters: dict[str, int]
    flops: dict[str, float]
    memory: dict[str, dict[str, int]]
    time: dict[str, float] | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def peak_memory(self) -> int:
        """Bytes the chosen mode needs (training with or without checkpointing, or inference)."""
        if self.settings["training"]:
            key = "total_checkpointed" if self.settings["checkpointing"] else "total"
            return self.memory["training"][key]
        return self.memory["inference"]["total"]

    def format(self) -> str:
        return format_plans([self])


def count_parameters(model: Any) -> dict[str, int]:
    """Parameter counts from the config: backbone, head, with head, embedding tables."""
    return parameter_counts(model_shape(model), None)


def _check_positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BigModelError(f"{name} must be a positive integer, got {value!r}")
    return value


def _checked_dtype(dtype: str) -> str:
    if dtype not in DTYPE_BYTES:
        raise BigModelError(f"dtype must be one of {', '.join(DTYPE_BYTES)}, got {dtype!r}")
    return CANONICAL_DTYPE.get(dtype, dtype)


def _checked_optimizer(optimizer: str) -> str:
    if optimizer not in OPTIMIZERS:
        raise BigModelError(
            f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}"
            f"{did_you_mean(str(optimizer), list(OPTIMIZERS))}"
        )
    return optimizer


def _checked_lora_rank(shape: ModelShape, lora_rank: int | None) -> int | None:
    if lora_rank is not None:
        _check_positive(lora_rank, "lora_rank")
        if not shape.stacks:
            raise BigModelError(
                f"lora_rank applies to attention projections; {shape.architecture} has none"
            )
    return lora_rank


def _checked_seq_len(shape: ModelShape, seq_len: int | None) -> int:
    """The tokens per example; 1 for an image model (it reads images, not tokens)."""
    if shape.reads_images:
        if seq_len is not None:
            raise BigModelError(f"seq_len does not apply to {shape.architecture} (it reads images)")
        return 1
    if seq_len is None:
        return shape.max_seq_len
    _check_positive(seq_len, "seq_len")
    if seq_len > shape.max_seq_len:
        raise BigModelError(
            f"seq_len={seq_len} exceeds {shape.name}'s context of {shape.max_seq_len} tokens"
        )
    return seq_len


def _notes(shape: ModelShape, training: bool, optimizer: str, lora_rank: int | None) -> list[str]:
    notes: list[str] = []
    if optimizer == "sgd":
        notes.append("sgd is counted with momentum (one state per weight)")
    if training and shape.attn_dropout > 0 and shape.stacks:
        notes.append(
            f"attention dropout ({shape.attn_dropout}) makes PyTorch keep (T, T) attention "
            f"matrices for the backward pass; attn_dropout=0 lets the fused kernel skip them"
        )
    if lora_rank:
        notes.append(
            f"LoRA rank {lora_rank} on every attention projection (and a classifier head); "
            f"the base weights are frozen"
        )
    return notes


def plan(
    model: Any,
    *,
    batch_size: int = 1,
    seq_len: int | None = None,
    dtype: str = "fp32",
    training: bool = False,
    optimizer: str = "adamw",
    checkpointing: bool = False,
    lora_rank: int | None = None,
    calibration: Calibration | None = None,
) -> Plan:
    """Parameters, FLOPs, memory and (with a calibration) time of ``model`` at this shape.

    ``model``: a preset name, a local Hugging Face folder, a config or a model object.
    ``seq_len`` defaults to the model's context (an image model: images of the config's size).
    """
    shape = model_shape(model)
    batch_size = _check_positive(batch_size, "batch_size")
    dtype = _checked_dtype(dtype)
    optimizer = _checked_optimizer(optimizer)
    lora_rank = _checked_lora_rank(shape, lora_rank)
    seq_len = _checked_seq_len(shape, seq_len)
    b = DTYPE_BYTES[dtype]
    params = parameter_counts(shape, lora_rank)
    flops = flop_counts(shape, batch_size, seq_len, checkpointing)
    memory = memory_needs(shape, params, batch_size, seq_len, b, optimizer, checkpointing)
    notes = _notes(shape, training, optimizer, lora_rank)
    cal = calibration if calibration is not None else load_calibration()
    times = None
    if cal is not None:
        times = step_times(shape, params, flops, batch_size, seq_len, dtype, b, cal)
    else:
        notes.append("no time estimate: run `bigmodel plan --calibrate` once on this machine")
    settings = {
        "batch_size": batch_size,
        "seq_len": None if shape.reads_images else seq_len,
        "image_size": shape.image_size or None,
        "dtype": dtype,
        "training": training,
        "optimizer": optimizer,
        "checkpointing": checkpointing,
        "lora_rank": lora_rank,
    }
    return Plan(
        shape.name, shape.family, shape.architecture, settings, params, flops, memory, times, notes
    )


__all__ = ["Plan", "count_parameters", "plan"]
