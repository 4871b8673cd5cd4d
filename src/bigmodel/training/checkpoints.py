"""Checkpoint folders: written whole or not at all, found again, and read back safely.

A checkpoint is a folder in the Hugging Face layout (config.json, model.safetensors, tokenizer
files) plus ``optimizer.pt`` (optimizer + scheduler) and ``trainer_state.pt`` (step, RNG
states of torch, numpy and python, the config). It is written under a temporary name and
renamed, then ``checkpoints/latest`` (one line, the folder name) is replaced atomically: a
kill at any moment leaves the previous checkpoint intact and pointed to.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import BigModelError
from ..fileio import atomic_write_text, remove_stale_temporaries

CHECKPOINTS = "checkpoints"
LATEST = "latest"
STATE_FILE = "trainer_state.pt"
OPTIMIZER_FILE = "optimizer.pt"
# Config keys that may differ between a checkpoint and the run resuming from it.
_FREE_KEYS = ("dropout", "attn_dropout", "classifier_dropout", "extra")


def capture_rng() -> dict[str, Any]:
    """The state of every random number generator a training step draws from."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "python": random.getstate(),
        # CUDA keeps its own generators (dropout on the GPU draws from them).
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
    }


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_initialized():
        for index, generator in enumerate(cuda[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(generator, index)


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder from: itself, a run folder, or a checkpoints folder (via ``latest``)."""
    path = Path(path)
    for folder in (path, path / CHECKPOINTS):
        pointer = folder / LATEST
        if pointer.is_file():
            target = folder / pointer.read_text(encoding="utf-8").strip()
            if (target / STATE_FILE).is_file():
                return target
            raise BigModelError(f"{pointer} names {target.name}, which is not a complete checkpoint")
    if (path / STATE_FILE).is_file():
        return path
    if not path.exists():
        raise BigModelError(f"--resume: {path} does not exist")
    raise BigModelError(f"--resume: {path} holds no checkpoint (no {LATEST} pointer, no {STATE_FILE})")


def remove_leftovers(out_dir: Path) -> None:
    """Temporary files of a save that was killed (model, config, metrics; checkpoints)."""
    remove_stale_temporaries(out_dir)
    root = out_dir / CHECKPOINTS
    if root.is_dir():
        for stale in root.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        for folder in root.glob("step-*"):
            remove_stale_temporaries(folder)


def write_checkpoint(out_dir: Path, step: int, save_model: Callable[[Path], Any], optimizer: dict[str, Any],
                     state: dict[str, Any], keep: int) -> Path:
    """``checkpoints/step-N`` written whole under a temporary name, then ``latest`` pointed at
    it; all but the ``keep`` newest step folders are removed."""
    root = out_dir / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:08d}"
    tmp = root / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        save_model(tmp)
        torch.save(optimizer, tmp / OPTIMIZER_FILE)
        torch.save(state, tmp / STATE_FILE)
        _fsync_tree(tmp)
        final = root / name
        if final.exists():
            _discard(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(root / LATEST, name + "\n")
    _prune(root, keep_name=name, keep=keep)
    return final


def read_checkpoint(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trainer state, optimizer + scheduler state) of ``folder``, plain tensors only."""
    from .. import hub

    try:
        return hub.load_tensors_only(folder / STATE_FILE), hub.load_tensors_only(folder / OPTIMIZER_FILE)
    except pickle.UnpicklingError:
        # torch's own message suggests weights_only=False, i.e. running the file's code: no.
        raise BigModelError(f"checkpoint {folder} holds more than plain tensors and numbers; "
                            f"refused to unpickle it (only checkpoints bigmodel wrote can resume)") from None
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: say which
        reason = str(exc).splitlines()[0][:160] if str(exc) else ""
        raise BigModelError(f"checkpoint {folder} cannot be read ({type(exc).__name__}: {reason})") from None


def model_identity(model: Any) -> dict[str, Any]:
    """What a checkpoint records to recognize the model it belongs to."""
    return {"architecture": model.architecture,
            "model_config": json.loads(json.dumps(model.config.to_dict(), default=str))}


def check_same_model(folder: Path, state: dict[str, Any], model: Any) -> None:
    """One clear error when the checkpoint belongs to another architecture or config."""
    ours = model_identity(model)["model_config"]
    theirs = state.get("model_config", {})
    if state.get("architecture") != model.architecture:
        raise BigModelError(
            f"checkpoint {folder} is a {state.get('architecture')}, but this config trains a "
            f"{model.architecture}; resume from a checkpoint of the same model"
        )
    for key in list(ours) + [k for k in theirs if k not in ours]:  # config order: d_model before d_ff
        if key in _FREE_KEYS:
            continue
        if ours.get(key) != theirs.get(key):
            raise BigModelError(
                f"checkpoint {folder} has {key}={theirs.get(key)!r}, but this config builds "
                f"{key}={ours.get(key)!r}; resume from a checkpoint of the same model"
            )


def _prune(root: Path, keep_name: str, keep: int) -> None:
    done = sorted(p for p in root.glob("step-*") if p.is_dir() and p.name != keep_name)
    for old in done[: max(0, len(done) - (keep - 1))]:
        _discard(old)
    for stale in root.glob(".tmp-*"):  # left by a killed save
        if not stale.name.endswith(f"-{os.getpid()}"):
            shutil.rmtree(stale, ignore_errors=True)


def _discard(folder: Path) -> None:
    """Delete a checkpoint folder; a kill midway leaves a ``.tmp-`` folder, never a half one."""
    trash = folder.with_name(f".tmp-discard-{folder.name}")
    shutil.rmtree(trash, ignore_errors=True)
    os.replace(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


__all__ = ["CHECKPOINTS", "LATEST", "OPTIMIZER_FILE", "STATE_FILE", "capture_rng", "check_same_model",
           "find_checkpoint", "model_identity", "read_checkpoint", "remove_leftovers", "restore_rng",
           "write_checkpoint"]
