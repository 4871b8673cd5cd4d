"""Where a model's files are: a local folder, a shipped preset, or a Hugging Face id.

A name resolves, in order, to: a local folder; a preset (see registry.py) whose weights a
package or this repository ships; a Hugging Face id looked up through huggingface_hub's
cache (and downloaded when the network allows and ``HF_HUB_OFFLINE`` is not set).

Only the folder is found here, nothing is loaded: a tokenizer and a model both start from it
(tokenization reads the tokenizer files, hub the config and weights).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from . import paths
from .errors import BigModelError
from .registry import Preset, get_preset, local_weights_dir, preset_names

HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
HF_ID_MAX = 96 + 1 + 96  # the Hub's limit on owner and repository names


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def resolve_model_dir(name_or_path: str | Path) -> Path:
    """A local folder for ``name_or_path``, or a BigModelError saying why there is none."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    # paths.is_dir / is_file: a name too long for the OS is "not found", not an OSError.
    if paths.is_dir(path):
        return path
    if paths.is_file(path):
        raise BigModelError(f"{text} is a file; a model is a folder with config.json and weights")
    preset = get_preset(text)
    if preset is not None:
        local = local_weights_dir(preset)
        if local is not None:
            return local
        kind, _, hub_id = preset.weights.partition(":")
        if kind == "hub":
            return _from_hub_cache(hub_id, preset)
    # Anything that is not a plain "owner/name" id was meant as a path that does not exist.
    if not HF_ID.match(text) or ".." in text or len(text) > HF_ID_MAX:
        raise BigModelError(f"model {text[:200]!r} not found: no such folder, and not a preset "
                            f"({', '.join(preset_names())})")
    return _from_hub_cache(text, None)


def _from_hub_cache(repo_id: str, preset: Preset | None) -> Path:
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "merges.txt", "vocab.*"]
    try:
        return Path(huggingface_hub.snapshot_download(repo_id, local_files_only=True, allow_patterns=patterns))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        pass
    hint = (f"; `bm.create({preset.name!r})` builds it with random weights" if preset else
            f"; presets: {', '.join(preset_names())}")
    if _offline():
        raise BigModelError(f"model {repo_id!r} is not in the Hugging Face cache "
                            f"({huggingface_hub.constants.HF_HUB_CACHE}) and HF_HUB_OFFLINE is set{hint}")
    try:
        return Path(huggingface_hub.snapshot_download(repo_id, allow_patterns=patterns))
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise BigModelError(f"model {repo_id!r} is not in the Hugging Face cache and could not be "
                            f"downloaded ({type(exc).__name__}){hint}") from None
