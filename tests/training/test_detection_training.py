"""Training the detector through the Trainer (`[task] kind = "detection"`): loss falls, mAP rises."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from bigmodel.data.digit_canvases import CanvasSettings, write_canvases
from bigmodel.errors import BigModelError
from bigmodel.tasks.detection import evaluate_detection
from bigmodel.training.trainer import Trainer

TINY_DETECTOR = {"embedding_size": 16, "hidden_sizes": [16, 32, 32], "depths": [1, 1, 1], "neck_channels": 32,
                 "head_channels": 32, "image_size": 32}
# Easy canvases: two very different digits, one or two per 32×32 canvas, always large.
EASY = {"size": 32, "min_digits": 1, "max_digits": 2, "min_scale": 2.5, "max_scale": 3.0, "classes": (0, 1)}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny convolutions run fastest on one thread (two contend on a shared, busy CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def recipe(train: Path, val: Path | None, out: Path, steps: int) -> dict:
    return {
        "task": {"kind": "detection"},
        "model": {"config": TINY_DETECTOR},
        "data": {"path": str(train), "validation_path": str(val) if val else ""},
        "train": {"out_dir": str(out), "max_steps": steps, "batch_size": 16, "lr": 5e-3, "warmup_steps": 5,
                  "weight_decay": 0.0, "eval_every": 0, "eval_batches": 4, "log_every": 10,
                  "progress": False, "save_every": 0, "num_threads": 1},
    }


def test_short_training_finds_digits_on_held_out_canvases(tmp_path: Path) -> None:
    train = write_canvases(tmp_path / "train", 160, seed=0, settings=CanvasSettings(**EASY)).parent
    held_out = write_canvases(tmp_path / "test", 40, seed=1, settings=CanvasSettings(**EASY, split="test")).parent
    trainer = Trainer(recipe(train, held_out, tmp_path / "run", steps=120))
    before = trainer.evaluate()
    result = trainer.train()
    after = result["validation"]
    assert after["loss"] < 0.5 * before["loss"]
    assert after["map_50"] > 0.3 > before["map_50"]
    # the saved folder scores the same held-out canvases through the task
    report = evaluate_detection(str(tmp_path / "run"), held_out)
    assert report["map_50"] > 0.3
    assert set(report["ap_50"]) == {"0", "1"}


def test_labels_come_from_the_categories_and_a_bad_json_is_one_error(tmp_path: Path) -> None:
    train = write_canvases(tmp_path / "train", 8, seed=0, settings=CanvasSettings(**EASY)).parent
    trainer = Trainer(recipe(train, None, tmp_path / "run", steps=1))
    assert trainer.model.config.id2label == {0: "0", 1: "1"}
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "annotations.json").write_text("{not json")
    with pytest.raises(BigModelError, match="annotations.json is not valid JSON"):
        Trainer(recipe(tmp_path / "bad", None, tmp_path / "run2", steps=1))
