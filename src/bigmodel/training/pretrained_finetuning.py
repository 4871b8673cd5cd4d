"""What fine-tuning a pretrained model shares across objectives: the tokenizer the model came
with, the check that ``data.seq_len`` fits its context, and a seeded held-out validation share
of a training file read whole (when ``data.validation_path`` is empty)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import BigModelError

T = TypeVar("T")


def pretrained_tokenizer(config: Any) -> Any:
    """``data.tokenizer``, or the tokenizer saved with ``model.pretrained``."""
    from ..tasks.common import resolve_tokenizer_source
    from ..tokenization import load_tokenizer

    return load_tokenizer(config.data.tokenizer or resolve_tokenizer_source(config.model.pretrained))


def check_context(config: Any, model: Any) -> None:
    """A clear error when ``data.seq_len`` exceeds the model's context."""
    if config.data.seq_len > model.config.max_seq_len:
        raise BigModelError(f"config data.seq_len={config.data.seq_len} exceeds the model's context "
                            f"of {model.config.max_seq_len}")


def read_train_validation(config: Any, read: Callable[[str], list[T]], noun: str, *,
                          validation_fraction: float, split_seed: int) -> tuple[list[T], list[T]]:
    """(train, validation): ``read(data.validation_path)``, or a seeded shuffle of
    ``read(data.path)`` with ``validation_fraction`` of it (at least one ``noun``) held out."""
    if not 0 < validation_fraction < 1:
        raise BigModelError(f"config task.validation_fraction must be in (0, 1), got {validation_fraction}")
    train = read(config.data.path)
    if config.data.validation_path:
        return train, read(config.data.validation_path)
    order = list(range(len(train)))
    random.Random(split_seed).shuffle(order)
    held = max(1, round(validation_fraction * len(order)))
    if held >= len(order):
        raise BigModelError(f"{config.data.path} has {len(order)} {noun}: too few to hold out a "
                            f"validation share; set data.validation_path")
    return [train[i] for i in order[held:]], [train[i] for i in order[:held]]


__all__ = ["check_context", "pretrained_tokenizer", "read_train_validation"]
