"""Checkpoint folders on their own: written whole, the newest pointed to, old ones pruned, RNG
states restored exactly, a foreign pickle refused."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from bigmodel.errors import BigModelError
from bigmodel.training.checkpoints import (
    CHECKPOINTS,
    LATEST,
    capture_rng,
    find_checkpoint,
    read_checkpoint,
    restore_rng,
    write_checkpoint,
)


def _write(out: Path, step: int, keep: int = 2) -> Path:
    def save_model(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text("{}")

    return write_checkpoint(out, step, save_model, {"optimizer": {}, "scheduler": {}}, {"step": step}, keep=keep)


def test_latest_points_at_the_newest_and_old_ones_go(tmp_path: Path) -> None:
    for step in (2, 4, 6):
        _write(tmp_path, step)
    root = tmp_path / CHECKPOINTS
    assert sorted(p.name for p in root.iterdir()) == [LATEST, "step-00000004", "step-00000006"]
    assert find_checkpoint(tmp_path) == root / "step-00000006"
    state, optimizer = read_checkpoint(find_checkpoint(tmp_path))
    assert state == {"step": 6} and optimizer == {"optimizer": {}, "scheduler": {}}


def test_rng_states_come_back_exactly() -> None:
    state = capture_rng()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng(state)
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1]) and expected[2] == got[2]


class _Foreign:
    pass


def test_a_foreign_pickle_is_refused(tmp_path: Path) -> None:
    folder = _write(tmp_path, 1)
    torch.save({"step": 1, "payload": _Foreign()}, folder / "trainer_state.pt")
    with pytest.raises(BigModelError, match="refused to unpickle"):
        read_checkpoint(folder)


def test_a_folder_without_a_checkpoint_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(BigModelError, match="holds no checkpoint"):
        find_checkpoint(tmp_path)
