"""Find a model by name, load it, save it: the Hugging Face folder layout in and out.

A name resolves to a folder as model_folders.py says (a local folder, a shipped preset, or
a Hugging Face id through huggingface_hub's cache).

A folder holds ``config.json`` plus ``model.safetensors`` (or a sharded
``model.safetensors.index.json``, or ``pytorch_model.bin``, read with
``torch.load(weights_only=True)`` so that a pickle can never run code).
"""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from . import paths
from .decoding.model_defaults import FILE_NAME as GENERATION_CONFIG_FILE
from .decoding.model_defaults import read_generation_config
from .errors import BigModelError
from .fileio import atomic_write, atomic_write_text, read_json_object
from .model_folders import resolve_model_dir
from .models.base import BigModel
from .models.convert import from_hf_state_dict, to_hf_state_dict
from .models.families import (
    FamilyMap,
    family_for_model,
    family_for_model_type,
    family_maps,
    family_named,
)
from .registry import PRESETS, Preset, local_weights_dir, require_preset

DTYPES = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16,
          "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise BigModelError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]


def read_config(directory: Path) -> dict[str, Any]:
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise BigModelError(f"{directory} has no config.json; is it a model folder?")
    paths.check_inside(directory, config_path.name, "config")
    return read_json_object(config_path, "model config")


def read_weights(directory: Path, *, trust_external_files: bool = False) -> dict[str, Tensor]:
    """The state dict of ``directory``: its own tensors over those of its ``base_model``, if any.

    A folder whose config.json names a ``base_model`` (a preset or a folder) ships only the
    tensors it trained; ``base_model_tensors`` lists the keys read from the base instead
    (tiny-bert-en: its frozen embeddings and lower layers are all-minilm-l6-v2's, in a package).
    """
    state = _read_weight_files(directory, trust_external_files=trust_external_files)
    config_path = directory / "config.json"
    config = read_config(directory) if config_path.is_file() else {}
    base, keys = config.get("base_model"), config.get("base_model_tensors", [])
    if base is None:
        return state
    if not isinstance(base, str) or not base.strip() or not isinstance(keys, list):
        raise BigModelError(f"{config_path}: base_model must name a model (a preset or a folder) and "
                            f"base_model_tensors list the keys taken from it")
    base_dir = resolve_model_dir(base)
    if base_dir.resolve() == directory.resolve():
        raise BigModelError(f"{config_path}: base_model {base!r} is this folder itself")
    base_state = read_weights(base_dir, trust_external_files=trust_external_files)
    for key in keys:
        # A body-only base lacks the "bert."-style prefix of the head model trained on it.
        bare = next((key.removeprefix(m.body_prefix) for m in family_maps()
                     if key.startswith(m.body_prefix)), key)
        tensor = base_state.get(key, base_state.get(bare))
        if tensor is None:
            raise BigModelError(f"{config_path}: base_model {base!r} has no tensor {key!r}")
        state.setdefault(key, tensor)
    return state


def _read_weight_files(directory: Path, *, trust_external_files: bool = False) -> dict[str, Tensor]:
    """The state dict stored in ``directory``, whatever the file layout.

    Files that resolve outside ``directory`` (a symlink, an index naming ``../x``) are refused
    unless ``trust_external_files`` or ``BIGMODEL_TRUST_EXTERNAL_FILES=1`` (paths.check_inside).
    """
    trust = trust_external_files
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    single = directory / "model.safetensors"
    index = directory / "model.safetensors.index.json"
    pickled = directory / "pytorch_model.bin"
    try:
        if single.is_file():
            return load_file(str(paths.check_inside(directory, single.name, "weights file", trust=trust)))
        if index.is_file():
            paths.check_inside(directory, index.name, "index", trust=trust)
            shards = sorted(set(read_json_object(index, "weights index")["weight_map"].values()))
            state: dict[str, Tensor] = {}
            for shard in shards:
                if not isinstance(shard, str) or not shard:
                    raise BigModelError(f"{index} names a shard {shard!r}; expected a file name")
                state.update(load_file(str(paths.check_inside(directory, shard, "shard", trust=trust))))
            return state
    except SafetensorError as exc:
        raise BigModelError(f"weights in {directory} are not a readable safetensors file "
                            f"(truncated or corrupt): {exc}") from None
    except (OSError, KeyError, AttributeError) as exc:
        raise BigModelError(f"cannot read the weights in {directory}: {exc}") from None
    if pickled.is_file():
        paths.check_inside(directory, pickled.name, "weights file", trust=trust)
        try:
            state = load_tensors_only(pickled)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure is the file's fault
            # Not torch's text: it suggests weights_only=False, i.e. running the file's code.
            reason = "it holds more than tensors" if isinstance(exc, pickle.UnpicklingError) else (
                str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__)
            raise BigModelError(f"{pickled} is not a plain tensor checkpoint (refused to unpickle "
                                f"anything else): {reason}") from None
        if not isinstance(state, dict):
            raise BigModelError(f"{pickled} does not hold a state dict")
        return state
    raise BigModelError(f"{directory} has no model.safetensors, model.safetensors.index.json "
                        f"or pytorch_model.bin")


def load_tensors_only(path: str | Path) -> Any:
    """``torch.load(weights_only=True)`` without its protocol UserWarning on stderr (a file
    pickled with protocol 4 warns even when it is refused: a second line beside the error)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.load(str(path), map_location="cpu", weights_only=True)


def model_class(family_map: FamilyMap, architecture: str) -> type[BigModel]:
    if architecture not in family_map.architectures:
        raise BigModelError(
            f"architecture {architecture!r} is not one bigmodel builds for model_type "
            f"{family_map.hf_model_type!r}; choose one of {', '.join(family_map.architectures)}"
        )
    return family_map.architectures[architecture]()


def load(
    name_or_path: str | Path,
    *,
    architecture: str | None = None,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
    trust_external_files: bool = False,
) -> BigModel:
    """Load a model: preset name, local HF folder, or HF id.

    ``architecture`` picks the class (e.g. "BertForMaskedLM" from a BertForPreTraining
    checkpoint); by default the one config.json names. The model is returned in eval mode.
    Weight files that resolve outside the folder are refused unless ``trust_external_files``
    (or ``BIGMODEL_TRUST_EXTERNAL_FILES=1``).
    """
    directory = resolve_model_dir(name_or_path)
    hf_config = read_config(directory)
    model_type = hf_config.get("model_type")
    if not model_type:
        raise BigModelError(f"{directory / 'config.json'} has no model_type")
    family_map = family_for_model_type(model_type)
    saved_architectures = hf_config.get("architectures") or [next(iter(family_map.architectures))]
    source_architecture = saved_architectures[0]
    cls = model_class(family_map, architecture or source_architecture)
    try:
        config = family_map.config_from_hf(hf_config)
        type(config).check_types(config.to_dict())
    except KeyError as exc:
        raise BigModelError(f"{directory / 'config.json'} lacks the key {exc}") from None
    except (TypeError, ValueError) as exc:
        raise BigModelError(f"{directory / 'config.json'}: {exc}") from None
    model = cls(config)
    state = read_weights(directory, trust_external_files=trust_external_files)
    from_hf_state_dict(model, state, family_map, source_architecture=source_architecture,
                       source=str(directory))
    model.name_or_path = str(name_or_path)
    model.generation_config = read_generation_config(directory)
    torch_dtype = resolve_dtype(dtype)
    if torch_dtype is not None:
        model.to(torch_dtype)
    if device is not None:
        from .devices import to_device

        to_device(model, device)  # "auto", or one clear error for a device this machine lacks
    return model.eval()


def create(name: str, **overrides: Any) -> BigModel:
    """A preset's architecture with fresh random weights (no files needed).

    ``overrides`` change config fields: ``bm.create("gpt2", n_layers=2)``.
    """
    preset: Preset = require_preset(name)
    family_map = family_named(preset.family)
    cls = model_class(family_map, preset.architecture)
    if preset.weights.startswith(("shipped:", "package:")) and not preset.config:
        directory = local_weights_dir(preset)
        config = family_map.config_from_hf(read_config(directory)).replace(**overrides)
    else:
        config = cls.config_class.from_dict(preset.config | overrides)
    model = cls(config)
    model.name_or_path = name
    return model


def save_model(model: BigModel, directory: str | Path, *, tokenizer: Any = None,
               preprocessor: Any = None) -> Path:
    """config.json + model.safetensors that transformers loads as ``model.architecture``, and
    the files that make the folder usable on its own (see companions.py): the tokenizer of a
    language model, ``preprocessor_config.json`` of an image model, both found beside the
    model's source unless given. A config transformers cannot express is warned about and
    flagged (``"bigmodel_only": true`` in config.json, a README.md note).

    Each file is written to a temporary name in the folder and renamed into place, so an
    interrupted save leaves either the previous file or the new one, never half of one.
    """
    import warnings

    from safetensors.torch import save_file

    from .companions import (
        bigmodel_only_note,
        model_preprocessor,
        model_tokenizer,
        save_tokenizer,
        transformers_limits,
        write_readme,
    )

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    family_map = family_for_model(model)
    hf_config = family_map.config_to_hf(model.config)
    hf_config["architectures"] = [model.architecture]
    hf_config["torch_dtype"] = str(model.dtype).removeprefix("torch.")
    hf_config["bigmodel"] = {"family": model.family, "config": _jsonable(model.config.to_dict())}
    limits = transformers_limits(model)
    if limits:
        hf_config["bigmodel_only"] = True
        # One text per reason (not per folder), so a run saving many checkpoints warns once.
        warnings.warn(f"the saved folder loads in bigmodel only (config.json sets bigmodel_only): "
                      f"{'; '.join(limits)}", stacklevel=3)
    state = to_hf_state_dict(model, family_map)
    atomic_write(directory / "model.safetensors", lambda p: save_file(state, p, metadata={"format": "pt"}))
    found_tokenizer = model_tokenizer(model, tokenizer)
    if found_tokenizer is not None:
        save_tokenizer(found_tokenizer, model, directory)
    found_preprocessor = model_preprocessor(model, preprocessor)
    if found_preprocessor is not None:
        found_preprocessor.save_pretrained(directory)
    if limits:
        write_readme(directory, bigmodel_only_note(model, limits))
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None:
        generation_config.save_pretrained(directory)
    else:  # a file left from an earlier save would give this model decoding defaults it lacks
        (directory / GENERATION_CONFIG_FILE).unlink(missing_ok=True)
    text = json.dumps(hf_config, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    atomic_write_text(directory / "config.json", text)
    return directory


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(values, default=str))


__all__ = ["PRESETS", "create", "load", "read_config", "read_weights", "resolve_model_dir", "save_model"]
