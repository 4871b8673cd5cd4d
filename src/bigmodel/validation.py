"""Numbers a user gives (CLI flags, TOML recipes, config.json, HTTP bodies), checked once.

Every checker takes the value and the name the user knows it by (``--temperature``,
``train.beta1``, ``n_heads``) and returns the value, or raises :class:`BigModelError` with one
line naming the argument, the allowed range and what was given. The CLI, the training recipe,
the model configs and the server all call these, so a range is written down in one place.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .errors import BigModelError

# torch.Generator.manual_seed takes a signed or unsigned 64-bit integer.
SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1
# numpy's legacy global seed (the trainer seeds it) is an unsigned 32-bit integer.
GLOBAL_SEED_MAX = 2**32 - 1
# Below this a temperature is greedy decoding (the T -> 0 limit of sampling): logits / T
# would overflow float32 to inf and the softmax of inf - inf is NaN.
MIN_TEMPERATURE = 1e-5


def _given(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> float:
    """A finite number in the range [low, high] (``low_open``/``high_open``: that end excluded)."""
    ok = _is_number(value) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise BigModelError(f"{name} must be {_range_text(low, high, low_open, high_open)}, "
                            f"got {_given(value)}")
    return value


def _range_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return "a finite number"
    if high is None:
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"a finite number {'<' if high_open else '<='} {high:g}"
    return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def positive(value: Any, name: str) -> float:
    """A finite number > 0."""
    return number(value, name, low=0, low_open=True)


def non_negative(value: Any, name: str) -> float:
    """A finite number >= 0."""
    return number(value, name, low=0)


def integer(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """An integer in [low, high]."""
    ok = _is_int(value) and (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        if low is not None and high is not None:
            expected = f"an integer in [{low}, {high}]"
        elif low is not None:
            expected = f"an integer >= {low}"
        elif high is not None:
            expected = f"an integer <= {high}"
        else:
            expected = "an integer"
        raise BigModelError(f"{name} must be {expected}, got {_given(value)}")
    return value


def size(value: Any, name: str) -> int:
    """A positive integer: a count of layers, heads, dimensions, items."""
    return integer(value, name, low=1)


def seed(value: Any, name: str = "seed") -> int:
    """A seed that ``torch.Generator().manual_seed`` accepts."""
    return integer(value, name, low=SEED_MIN, high=SEED_MAX)


def global_seed(value: Any, name: str = "seed") -> int:
    """A seed for the global generators of random, numpy and torch at once."""
    return integer(value, name, low=0, high=GLOBAL_SEED_MAX)


def temperature(value: Any, name: str = "temperature") -> float:
    """A finite temperature >= 0; one below :data:`MIN_TEMPERATURE` means greedy (returns 0)."""
    number(value, name, low=0)
    return 0.0 if value < MIN_TEMPERATURE else float(value)


# -- model configs ---------------------------------------------------------------------------

# Config fields that count something; each must be a positive integer.
SIZE_FIELDS = frozenset({
    "vocab_size", "tgt_vocab_size", "max_seq_len", "d_model", "n_layers", "n_heads", "d_ff",
    "n_encoder_layers", "n_decoder_layers", "type_vocab_size", "num_labels", "num_channels",
    "embedding_size",
})
PROBABILITY_FIELDS = frozenset({"dropout", "attn_dropout", "classifier_dropout"})


def check_model_config(config: Any) -> None:
    """Sizes > 0, dropouts in [0, 1], epsilons > 0 in a model config dataclass.

    Runs first in each config's ``__post_init__``, so a zero head count is this one line and
    not a ZeroDivisionError, whether it came from config.json or a recipe override.
    """
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value is None:
            continue
        if f.name in SIZE_FIELDS:
            size(value, f.name)
        elif f.name in PROBABILITY_FIELDS:
            number(value, f.name, low=0, high=1)
        elif f.name == "layer_norm_eps":
            positive(value, f.name)
        elif f.name == "initializer_range":
            non_negative(value, f.name)
        elif f.name in ("hidden_sizes", "depths") and isinstance(value, list | tuple):
            for i, item in enumerate(value):
                size(item, f"{f.name}[{i}]")
    d_model, n_heads = getattr(config, "d_model", None), getattr(config, "n_heads", None)
    if _is_int(d_model) and _is_int(n_heads) and d_model % n_heads:
        raise BigModelError(f"d_model={d_model} must be divisible by n_heads={n_heads}")


__all__ = [
    "GLOBAL_SEED_MAX",
    "MIN_TEMPERATURE",
    "SEED_MAX",
    "SEED_MIN",
    "check_model_config",
    "global_seed",
    "integer",
    "non_negative",
    "number",
    "positive",
    "seed",
    "size",
    "temperature",
]
