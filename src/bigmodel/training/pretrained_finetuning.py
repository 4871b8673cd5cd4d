"""What fine-tuning a pretrained model shares across objectives: the head model built on the
pretrained body, the tokenizer the model came with, the check that ``data.seq_len`` fits its
context, and a seeded held-out validation share of a training file read whole (when
``data.validation_path`` is empty)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import BigModelError

T = TypeVar("T")


@dataclass
class PretrainedSource:
    """A pretrained model folder as read before any weights: what ``config.json`` says."""

    name: str
    directory: Path
    hf_config: dict[str, Any]
    family_map: Any  # bigmodel.models.convert.FamilyMap
    architecture: str  # the class config.json names (its first ``architectures`` entry)

    @property
    def family(self) -> str:
        return self.family_map.family


def read_pretrained(pretrained: str, architecture: str | None = None,
                    task: str = "") -> PretrainedSource:
    """``model.pretrained`` resolved and its config read; with ``architecture`` (the head the
    ``task`` trains), a model of a family that builds no such head is one error naming the task."""
    from ..hub import read_config, resolve_model_dir
    from ..models.convert import family_for_model_type
    from ..models.families import family_maps

    directory = resolve_model_dir(pretrained)
    hf_config = read_config(directory)
    family_map = family_for_model_type(hf_config.get("model_type", ""))
    if architecture is not None and architecture not in family_map.architectures:
        builders = [m.family.upper() for m in family_maps() if architecture in m.architectures]
        raise BigModelError(f"model.pretrained {pretrained!r} is a {family_map.family} model; {task} "
                            f"fine-tunes a {' or '.join(builders)}")
    architecture = (hf_config.get("architectures") or [next(iter(family_map.architectures))])[0]
    return PretrainedSource(str(pretrained), directory, hf_config, family_map, architecture)


def build_head_model(source: PretrainedSource, architecture: str, config_changes: dict[str, Any] | None = None,
                     fresh_head: str | None = None) -> Any:
    """A ``architecture`` model (training mode) whose body is ``source``'s pretrained weights.

    ``config_changes`` size the head (``id2label``, ``num_labels`` ...); ``fresh_head`` is the
    weight prefix of a saved head that does not fit (another label set): it starts afresh.
    """
    from ..hub import model_class, read_weights
    from ..models.convert import from_hf_state_dict

    config = source.family_map.config_from_hf(source.hf_config).replace(**(config_changes or {}))
    model = model_class(source.family_map, architecture)(config)
    state = read_weights(source.directory)
    loaded_from = source.architecture
    if fresh_head is not None:
        state = {k: v for k, v in state.items() if not k.startswith(fresh_head)}
        loaded_from = "pretrained body"
    from_hf_state_dict(model, state, source.family_map, source_architecture=loaded_from,
                       source=str(source.directory))
    model.name_or_path = source.name
    return model.train()


def pretrained_tokenizer(config: Any) -> Any:
    """``data.tokenizer``, or the tokenizer saved with ``model.pretrained``."""
    from ..tasks.common import resolve_tokenizer_source
    from ..tokenization import load_tokenizer

    return load_tokenizer(config.data.tokenizer or resolve_tokenizer_source(config.model.pretrained))


def check_finetuning_sources(config: Any, data_file: str, *, model: str = "the BERT",
                             example: str = "tiny-bert-en") -> None:
    """One error line when the recipe names no ``model.pretrained`` or no ``data.path``
    (``data_file`` says what that file is)."""
    if not config.model.pretrained:
        raise BigModelError(f'config model.pretrained is empty: name {model} to fine-tune, e.g. "{example}"')
    if not config.data.path:
        raise BigModelError(f"config data.path is empty: point it at {data_file}")


def check_head_architecture(config: Any, architecture: str, task: str) -> None:
    """``model.architecture``, when the recipe sets it, must be the head ``task`` trains."""
    chosen = config.model.architecture or architecture
    if chosen != architecture:
        raise BigModelError(f"model.architecture {chosen!r}: {task} trains {architecture}")


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


__all__ = ["PretrainedSource", "build_head_model", "check_context", "check_finetuning_sources",
           "check_head_architecture", "pretrained_tokenizer", "read_pretrained", "read_train_validation"]
