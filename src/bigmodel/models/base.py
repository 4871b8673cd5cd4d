"""What every bigmodel model shares: a config dataclass, outputs, save/load, counting."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import torch
from torch import Tensor, nn

from ..errors import BigModelError, did_you_mean
from ..validation import check_model_config


@dataclass
class ModelOutput:
    """The fields a transformers user expects; unused ones stay None.

    logits: (B, T, vocab) for language models, (B, num_labels) for classifiers.
    hidden_states / attentions: one entry per layer (embeddings first for hidden_states)
    when asked for with ``output_hidden_states`` / ``output_attentions``.
    """

    logits: Tensor | None = None
    loss: Tensor | None = None
    last_hidden_state: Tensor | None = None
    pooler_output: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None
    cross_attentions: tuple[Tensor, ...] | None = None
    past_key_values: Any = None
    mlm_logits: Tensor | None = None
    nsp_logits: Tensor | None = None
    encoder_last_hidden_state: Tensor | None = None
    start_logits: Tensor | None = None  # (B, T), extractive question answering
    end_logits: Tensor | None = None

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


@dataclass
class ConfigBase:
    """Dataclass config with checked construction from a dict."""

    model_type: ClassVar[str] = ""
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Sizes and ranges are checked before a subclass's own __post_init__ divides by
        # n_heads or derives d_ff: a zero or negative size is one BigModelError naming the key.
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("__post_init__")
        if own is None and hasattr(cls, "__post_init__"):
            return  # the inherited one checks already

        def __post_init__(self: Any) -> None:
            check_model_config(self)
            if own is not None:
                own(self)

        cls.__post_init__ = __post_init__  # type: ignore[attr-defined]

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name != "extra"]

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, strict: bool = True) -> Self:
        """Build from ``values``; an unknown key is an error naming the closest real one."""
        names = cls.field_names()
        known = {k: v for k, v in values.items() if k in names}
        unknown = {k: v for k, v in values.items() if k not in names and k != "extra"}
        if unknown and strict:
            key = next(iter(unknown))
            raise BigModelError(
                f"unknown {cls.__name__} key {key!r}{did_you_mean(key, names)}; "
                f"valid keys: {', '.join(names)}"
            )
        cls.check_types(known)
        config = cls(**known)
        config.extra = dict(values.get("extra") or {}) | unknown
        return config

    @classmethod
    def check_types(cls, values: dict[str, Any]) -> None:
        """A value of the wrong JSON/TOML type ("four" layers) is the user's error, not a crash."""
        for f in dataclasses.fields(cls):
            value = values.get(f.name)
            if value is None or f.default is None or f.default is dataclasses.MISSING:
                continue
            if isinstance(f.default, bool):
                ok, expected = isinstance(value, bool), "true or false"
            elif isinstance(f.default, int):
                ok, expected = isinstance(value, int) and not isinstance(value, bool), "an integer"
            elif isinstance(f.default, float):
                ok, expected = isinstance(value, int | float) and not isinstance(value, bool), "a number"
            elif isinstance(f.default, str):
                ok, expected = isinstance(value, str), "a string"
            else:
                continue
            if not ok:
                raise BigModelError(f"{cls.__name__} key {f.name!r} must be {expected}, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.field_names()}
        if self.extra:
            out["extra"] = dict(self.extra)
        return out

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (unknown keys are an error)."""
        return type(self).from_dict(self.to_dict() | changes)


def compile_forward(module: nn.Module) -> None:
    """Compile ``module.forward`` in place with dynamic shapes: one compilation serves the
    prefill and every decoding step."""
    module.forward = torch.compile(module.forward, dynamic=True)


class BigModel(nn.Module):
    """Base class: ``config``, ``save_pretrained``, ``from_pretrained``, parameter counts.

    Subclasses set ``family`` ("gpt", "bert", "transformer", "resnet") and ``architecture``
    (the Hugging Face class name their checkpoints are saved as).
    """

    family: ClassVar[str] = ""
    architecture: ClassVar[str] = ""
    config_class: ClassVar[type[ConfigBase]] = ConfigBase
    # Decoding defaults from the folder's generation_config.json (bigmodel.decoding.model_defaults).
    generation_config: Any = None
    _compiled_for_decoding: bool = False

    def __init__(self, config: ConfigBase) -> None:
        super().__init__()
        self.config = config

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def compile_for_decoding(self) -> Self:
        """Compile this model for generation in place (once; later calls do nothing) and
        return it. Here ``forward`` with dynamic shapes; a family with a faster fixed-shape
        decoding step (GPT) overrides ``_compile_decoding``."""
        if not self._compiled_for_decoding:
            self._compile_decoding()
            self._compiled_for_decoding = True
        return self

    def _compile_decoding(self) -> None:
        compile_forward(self)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Unique parameters (a tied embedding counts once)."""
        seen: set[int] = set()
        total = 0
        for p in self.parameters():
            if id(p) in seen or (trainable_only and not p.requires_grad):
                continue
            seen.add(id(p))
            total += p.numel()
        return total

    def save_pretrained(self, directory: str | Path, *, tokenizer: Any = None,
                        preprocessor: Any = None) -> Path:
        """Write config.json + model.safetensors in the Hugging Face layout (atomically), with
        the tokenizer / image preprocessor the model came with (or the ones given)."""
        from ..hub import save_model

        return save_model(self, directory, tokenizer=tokenizer, preprocessor=preprocessor)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, **kwargs: Any) -> BigModel:
        """Load a preset, a local HF folder or a hub id as this class."""
        from ..hub import load

        return load(name_or_path, architecture=cls.architecture, **kwargs)
