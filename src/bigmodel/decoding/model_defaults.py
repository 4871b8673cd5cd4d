"""A model's own decoding settings: ``generation_config.json``, as transformers writes it.

A model folder may carry the settings that suit the model (``do_sample``, ``top_p``,
``repetition_penalty`` ...). ``bm.load`` reads them into ``model.generation_config``;
:func:`bigmodel.decoding.options.parse_options` fills every option the caller did not give
from them, so ``model.generate``, ``bm.generate``, ``bigmodel generate`` and the server
share one rule. ``save_pretrained`` writes the file back, and transformers'
``GenerationConfig.from_pretrained`` reads it.
"""

from __future__ import annotations

import json
from dataclasses import field, fields, make_dataclass
from pathlib import Path
from typing import Any

from ..errors import BigModelError
from ..fileio import atomic_write_text, read_json_object
from .options import OPTION_NAMES, SAVED_OPTIONS, parse_options

FILE_NAME = "generation_config.json"


class _ModelDefaults:
    """What GenerationConfig does; its fields are made below from GenerationOptions'."""

    extra: dict[str, Any]

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "generation config") -> GenerationConfig:
        """Known keys become fields (each value checked as a generation option would be)."""
        known = {f.name for f in fields(cls)} - {"extra"}
        config = cls(**{k: v for k, v in values.items() if k in known},
                     extra={k: v for k, v in values.items() if k not in known})
        try:
            parse_options({k: v for k, v in config.to_dict().items() if k in OPTION_NAMES})
        except BigModelError as exc:
            raise BigModelError(f"{source}: {exc}") from None
        return config

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> GenerationConfig:
        path = Path(directory) / FILE_NAME
        if not path.is_file():
            raise BigModelError(f"{directory} has no {FILE_NAME}")
        return cls.from_dict(read_json_object(path, "generation config"), source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The options the model sets (None fields left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self)  # type: ignore[arg-type]
                if f.name != "extra" and getattr(self, f.name) is not None}

    def save_pretrained(self, directory: str | Path) -> Path:
        values = self.extra | self.to_dict()
        text = json.dumps(values, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        return atomic_write_text(Path(directory) / FILE_NAME, text)


def _optional(annotation: str) -> str:
    return annotation if "None" in annotation else f"{annotation} | None"


# The decoding options a model may set (GenerationOptions' ``saved`` fields), each None
# when the model leaves it; bos_token_id is kept for transformers (bigmodel decodes
# from the prompt, or for an encoder-decoder from decoder_start_token_id).
GenerationConfig = make_dataclass(
    "GenerationConfig",
    [(f.name, _optional(str(f.type)), field(default=None)) for f in SAVED_OPTIONS]
    + [("bos_token_id", "int | None", field(default=None)),
       ("extra", "dict[str, Any]", field(default_factory=dict, repr=False))],
    bases=(_ModelDefaults,),
    namespace={"__doc__": """Default decoding options of one model; None means "not set by the model".

    The names and meanings are transformers'. Keys bigmodel does not use (e.g.
    ``transformers_version``) are kept in ``extra`` and written back on save.
    """},
)
GenerationConfig.__module__ = __name__  # reprs and pickles name this module


def read_generation_config(directory: str | Path) -> GenerationConfig | None:
    """The folder's generation_config.json, or None when it has none."""
    if not (Path(directory) / FILE_NAME).is_file():
        return None
    return GenerationConfig.from_pretrained(directory)
