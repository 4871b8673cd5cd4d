"""Writing a tokenizer as the folder transformers reads: tokenizer.json, the classic vocab
files, tokenizer_config.json and special_tokens_map.json."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bigmodel.errors import BigModelError

from .pipelines import bert_normalizer_flags

if TYPE_CHECKING:
    from .tokenizer import Tokenizer


def write_tokenizer_folder(tok: Tokenizer, directory: str | Path) -> Path:
    """Files go to a temporary folder beside them and are renamed into place, so an
    interrupted save never leaves a half-written file. Returns the folder."""
    directory = Path(directory).expanduser()
    if directory.exists() and not directory.is_dir():
        raise BigModelError(f"save_pretrained: {directory} exists and is not a folder")
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tokenizer-", dir=directory))
    try:
        tok.backend.model.save(str(staging))  # vocab.json+merges.txt or vocab.txt
        special_map: dict[str, Any] = dict(tok.special_tokens_map)
        if tok.additional_special_tokens:
            special_map["additional_special_tokens"] = tok.additional_special_tokens
        _write_json(staging / "tokenizer_config.json", _tokenizer_config(tok))
        _write_json(staging / "special_tokens_map.json", special_map)
        # Last, because loaders prefer tokenizer.json: once it is there, all is there.
        tok.backend.save(str(staging / "tokenizer.json"))
        names = sorted(p.name for p in staging.iterdir())
        names.remove("tokenizer.json")
        for name in [*names, "tokenizer.json"]:
            os.replace(staging / name, directory / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def _tokenizer_config(tok: Tokenizer) -> dict[str, Any]:
    config: dict[str, Any] = {
        "tokenizer_class": "GPT2Tokenizer" if tok.kind == "bpe" else "BertTokenizer",
        **tok.special_tokens_map,
        "clean_up_tokenization_spaces": False,
    }
    if tok.model_max_length is not None:
        config["model_max_length"] = tok.model_max_length
    if tok.additional_special_tokens:
        config["additional_special_tokens"] = tok.additional_special_tokens
    if tok.kind == "bpe":
        config.update(add_prefix_space=False, add_bos_token=False)
    else:
        config.update(bert_normalizer_flags(tok.backend))
    return config


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
