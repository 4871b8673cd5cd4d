"""``load_tokenizer``: a preset name, a folder, a tokenizer.json, or a model's name -> Tokenizer.

Which pipeline a folder means is decided by the files it holds (tokenizer.json first, then
the classic vocab files); tokenizer_config.json and special_tokens_map.json give the special
tokens and the length limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tokenizers import Tokenizer as Backend
from tokenizers import models

from bigmodel.errors import BigModelError, did_you_mean
from bigmodel.fileio import read_json_object
from bigmodel.model_folders import resolve_model_dir

from .pipelines import bert_wordpiece, byte_level_bpe, read_tokenizer_json
from .presets import PRESETS, preset_folder
from .specials import DEFAULT_SPECIALS, ROLES, token_text
from .tokenizer import Tokenizer

# transformers writes 1e30 for "no limit"; anything this large means the same here.
_NO_LIMIT = 10**9
_CLASSIC_FILES = ("vocab.json", "merges.txt", "encoder.json", "vocab.bpe")


def load_tokenizer(name_or_path: str | Path) -> Tokenizer:
    """A tokenizer from a preset name, a local folder, a tokenizer.json file, or a hub id.

    Presets (offline, files from installed packages): gpt2, gpt2-medium/large/xl (GPT-2
    BPE), bert-base-uncased, bert-large-uncased, all-minilm-l6-v2 (uncased WordPiece).
    A folder may hold tokenizer.json, vocab.json+merges.txt, encoder.json+vocab.bpe, or
    vocab.txt; tokenizer_config.json and special_tokens_map.json are read when present.
    A model's name (a model preset, a Hugging Face id) means the tokenizer in its folder.
    """
    if not isinstance(name_or_path, str | Path):
        raise BigModelError(
            f"tokenizer must be a name or a path; got {type(name_or_path).__name__}"
        )
    name = str(name_or_path)
    if isinstance(name_or_path, str) and name.lower() in PRESETS:
        return _load_preset(name.lower())
    path = Path(name).expanduser()
    if path.is_dir():
        return _load_folder(path, name_or_path=name)
    if path.is_file():
        if path.suffix != ".json":
            raise BigModelError(f"tokenizer file {path}: expected a tokenizer.json or a folder")
        return _load_folder(path.parent, name_or_path=name, tokenizer_file=path)
    if not name.strip() or _looks_like_path(name):
        raise BigModelError(f"tokenizer path {name!r} does not exist")
    try:
        folder = resolve_model_dir(name)
    except BigModelError:
        hint = did_you_mean(name, list(PRESETS))
        if not hint:
            raise
        # Close to a tokenizer preset: a typo of it, not a model that is missing.
        raise BigModelError(
            f"{name!r} is not a tokenizer preset ({', '.join(PRESETS)}) nor an existing folder "
            f"or tokenizer.json{hint}"
        ) from None
    return _load_folder(Path(folder), name_or_path=name)


def _looks_like_path(name: str) -> bool:
    # A hub id is "owner/name"; anything else with separators is meant as a local path.
    return (
        Path(name).is_absolute()
        or name.startswith((".", "~"))
        or "\\" in name
        or name.count("/") > 1
        or name.endswith(".json")
    )


def _load_preset(name: str) -> Tokenizer:
    return _load_folder(
        preset_folder(name), name_or_path=name, model_max_length=PRESETS[name].model_max_length
    )


def _load_folder(
    folder: Path,
    *,
    name_or_path: str,
    tokenizer_file: Path | None = None,
    model_max_length: int | None = None,
) -> Tokenizer:
    config = _read_config(folder)
    backend, source = _read_backend(folder, config, tokenizer_file or folder / "tokenizer.json")
    kind = "bpe" if isinstance(backend.model, models.BPE) else "wordpiece"
    specials: dict[str, str | None] = {}
    for role in ROLES:
        key = f"{role}_token"
        if key in config:
            specials[role] = token_text(config[key], f"{folder}: {key}")
        elif backend.token_to_id(DEFAULT_SPECIALS.get(kind, {}).get(role, "\0")) is not None:
            specials[role] = DEFAULT_SPECIALS[kind][role]
    extra_raw = config.get("additional_special_tokens") or config.get("extra_special_tokens")
    extra = []
    if isinstance(extra_raw, list):
        extra = [
            t
            for t in (token_text(x, f"{folder}: additional_special_tokens") for x in extra_raw)
            if t
        ]

    max_len = config.get("model_max_length")
    if not isinstance(max_len, int) or isinstance(max_len, bool) or not 0 < max_len < _NO_LIMIT:
        max_len = None
    return Tokenizer(
        backend,
        special_tokens=specials,
        additional_special_tokens=extra,
        model_max_length=model_max_length or max_len,
        name_or_path=name_or_path,
        source=source,
    )


def _read_backend(folder: Path, config: dict[str, Any], tokenizer_file: Path) -> tuple[Backend, str]:
    """(the Rust tokenizer, the file or folder it came from), from the files that are there."""
    if tokenizer_file.is_file():
        return read_tokenizer_json(tokenizer_file), str(tokenizer_file)
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        return byte_level_bpe(folder / "vocab.json", folder / "merges.txt"), str(folder)
    if (folder / "encoder.json").is_file() and (folder / "vocab.bpe").is_file():
        return byte_level_bpe(folder / "encoder.json", folder / "vocab.bpe"), str(folder)
    if (folder / "vocab.txt").is_file():
        return bert_wordpiece(folder / "vocab.txt", config), str(folder)
    found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    halves = [f for f in _CLASSIC_FILES if f in found]
    hint = f" (found only {', '.join(halves)})" if halves else ""
    raise BigModelError(
        f"tokenizer folder {folder} has none of tokenizer.json, vocab.json+merges.txt, "
        f"encoder.json+vocab.bpe, vocab.txt{hint}"
    )


def _read_config(folder: Path) -> dict[str, Any]:
    """tokenizer_config.json over special_tokens_map.json (the newer file wins)."""
    config: dict[str, Any] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        path = folder / name
        if path.is_file():
            config.update(read_json_object(path, "tokenizer config"))
    return config
