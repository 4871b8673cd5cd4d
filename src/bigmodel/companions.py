"""The files that travel with a model's weights, so a saved folder is complete.

A Hugging Face folder needs more than config.json + model.safetensors to be usable: the
tokenizer (tokenizer.json, tokenizer_config.json with the special tokens, the tokenizer class
and ``model_max_length``) for a language model, ``preprocessor_config.json`` (image size,
crop, mean / std, resample) for an image model. A model remembers where it came from
(``name_or_path``), so ``save_pretrained`` finds these beside its source; an explicit
``tokenizer=`` / ``preprocessor=`` wins.

Some bigmodel configs have no transformers equivalent (the 3×3 "small" ResNet stem):
:func:`transformers_limits` names them, and the saved folder says so (a warning at save
time, ``"bigmodel_only": true`` in config.json and a README.md note) instead of failing
later in transformers with a size mismatch.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .errors import BigModelError
from .fileio import atomic_write_text
from .models.base import BigModel
from .models.families import IMAGE_PREPROCESSOR, TOKENIZER, family_of

TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "encoder.json")


def _companion(model: BigModel) -> str:
    family_map = family_of(model)
    return family_map.companion if family_map is not None else ""


def source_dir(model: BigModel) -> Path | None:
    """The local folder the model was loaded from (a folder, a shipped or cached preset)."""
    from .hub import resolve_model_dir

    name = getattr(model, "name_or_path", None)
    if not name:
        return None
    try:
        return resolve_model_dir(name)
    except BigModelError:
        return None


def _has_tokenizer(directory: Path | None) -> bool:
    return directory is not None and any((directory / f).is_file() for f in TOKENIZER_FILES)


def model_tokenizer(model: BigModel, tokenizer: Any = None) -> Any:
    """The tokenizer to save beside ``model``: ``tokenizer`` (an object, a name or a path),
    else the one beside the model's source folder, else its preset's; None when none is known."""
    from .registry import get_preset
    from .tokenization import load_tokenizer

    if tokenizer is not None:
        return load_tokenizer(tokenizer) if isinstance(tokenizer, str | Path) else tokenizer
    if _companion(model) != TOKENIZER:
        return None
    found = None
    directory = source_dir(model)
    if _has_tokenizer(directory):
        found = load_tokenizer(directory)
    else:
        preset = get_preset(str(getattr(model, "name_or_path", "") or ""))
        if preset is not None and preset.tokenizer:
            found = load_tokenizer(preset.tokenizer)
    vocab = getattr(model.config, "vocab_size", None)
    # A tokenizer with more ids than the embedding has rows is not this model's.
    if found is not None and vocab is not None and found.vocab_size > vocab:
        return None
    return found


def model_preprocessor(model: BigModel, preprocessor: Any = None) -> Any:
    """The image preprocessor to save beside an image model: ``preprocessor``, else the
    source folder's ``preprocessor_config.json``, else the ImageNet defaults."""
    from .data.images import PREPROCESSOR_FILE, ImagePreprocessor

    if preprocessor is not None or _companion(model) != IMAGE_PREPROCESSOR:
        return preprocessor
    directory = source_dir(model)
    if directory is not None and (directory / PREPROCESSOR_FILE).is_file():
        return ImagePreprocessor.from_pretrained(directory)
    return ImagePreprocessor()


def _max_length(model: BigModel) -> int | None:
    config = model.config
    for key in ("max_seq_len", "max_position_embeddings", "n_positions"):
        value = getattr(config, key, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def save_tokenizer(tokenizer: Any, model: BigModel, directory: Path) -> None:
    """tokenizer.json + tokenizer_config.json (the class transformers expects, the special
    tokens, ``model_max_length`` = the model's positions when the tokenizer sets none)."""
    length = _max_length(model)
    if hasattr(tokenizer, "model_max_length") and tokenizer.model_max_length is None and length:
        tokenizer = copy.copy(tokenizer)  # the caller's tokenizer keeps its own setting
        tokenizer.model_max_length = length
    tokenizer.save_pretrained(directory)


def transformers_limits(model: BigModel) -> list[str]:
    """Why transformers cannot load this model as saved (empty when it can)."""
    family_map = family_of(model)
    if family_map is None or family_map.transformers_limits is None:
        return []
    return family_map.transformers_limits(model.config)


def bigmodel_only_note(model: BigModel, limits: list[str]) -> str:
    reasons = "\n".join(f"- {reason}" for reason in limits)
    return (f"# {getattr(model, 'name_or_path', '') or model.architecture}\n\n"
            f"Saved by bigmodel. **This folder loads in bigmodel only** (`bm.load(folder)`); "
            f"transformers cannot express its configuration:\n\n{reasons}\n\n"
            f"config.json carries `\"bigmodel_only\": true` so tools can tell before loading.\n")


def write_readme(directory: Path, text: str) -> None:
    """README.md with ``text``, unless the folder already holds one (a model card is kept)."""
    path = directory / "README.md"
    if not path.exists():
        atomic_write_text(path, text)


__all__ = ["bigmodel_only_note", "model_preprocessor", "model_tokenizer", "save_tokenizer",
           "source_dir", "transformers_limits", "write_readme"]
