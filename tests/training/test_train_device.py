"""`bigmodel train --device` and ``train.device``: cpu and auto train and resume as before;
a device this machine lacks, or a name that is none, is one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bigmodel.cli import main
from bigmodel.errors import BigModelError
from bigmodel.training.trainer import Trainer, find_checkpoint

NO_CUDA = not torch.cuda.is_available()

RECIPE = """
[task]
kind = "causal_lm"
[model.config]
n_layers = 1
d_model = 32
n_heads = 2
dropout = 0.1
[data]
path = "{data}"
seq_len = 16
[train]
out_dir = "{out}"
max_steps = 4
batch_size = 2
warmup_steps = 1
log_every = 1
eval_every = 0
eval_batches = 1
progress = false
peak_gflops = 100.0
{extra}
"""


def _recipe(tmp_path: Path, data: Path, name: str, extra: str = "") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(RECIPE.format(data=data.as_posix(), out=(tmp_path / name).as_posix(), extra=extra),
                    encoding="utf-8")
    return path


def _run_losses(out: Path) -> list[float]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r["loss"] for r in rows if r["split"] == "train"]


def test_cpu_and_auto_train_exactly_as_without_the_flag(corpus: dict[str, Path], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    runs = {"plain": [], "cpu": ["--device", "cpu"]}
    if NO_CUDA:  # auto is the CPU here
        runs["auto"] = ["--device", "auto"]
    for name, flag in runs.items():
        assert main(["train", str(_recipe(tmp_path, corpus["gpt"], name)), *flag, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["step"] == 4
    expected = _run_losses(tmp_path / "plain")
    assert len(expected) == 4
    for name in runs:
        assert _run_losses(tmp_path / name) == pytest.approx(expected, rel=1e-6)


def test_resume_with_device_matches_an_uninterrupted_run(corpus: dict[str, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(_recipe(tmp_path, corpus["gpt"], "full"))]) == 0

    def crash_after_3(trainer: Trainer, row: dict) -> None:
        if row["step"] == 3:
            raise KeyboardInterrupt

    recipe = _recipe(tmp_path, corpus["gpt"], "crash", "save_every = 2")
    crashed = Trainer(recipe, device="auto" if NO_CUDA else "cpu", callbacks=[crash_after_3])
    assert crashed.device == torch.device("cpu")
    with pytest.raises(KeyboardInterrupt):
        crashed.train()
    assert find_checkpoint(tmp_path / "crash").name == "step-00000002"
    assert main(["train", str(recipe), "--device", "cpu", "--resume"]) == 0
    assert "step 4" in capsys.readouterr().out
    assert _run_losses(tmp_path / "crash") == pytest.approx(_run_losses(tmp_path / "full"), rel=1e-6)


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a GPU")
def test_missing_cuda_is_one_line_exit_2(corpus: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["train", str(_recipe(tmp_path, corpus["gpt"], "gpu")), "--device", "cuda"])
    assert caught.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--device" in err and "'cuda' is not available" in err
    assert not (tmp_path / "gpu").exists()
    # The recipe's setting, and device= in Python, say the same.
    recipe = _recipe(tmp_path, corpus["gpt"], "gpu", 'device = "cuda"')
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train.device 'cuda' is not available" in err
    with pytest.raises(BigModelError, match="train.device 'cuda' is not available"):
        Trainer(_recipe(tmp_path, corpus["gpt"], "py"), device="cuda")


def test_a_device_that_is_no_device_is_one_clear_error(corpus: dict[str, Path], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    recipe = _recipe(tmp_path, corpus["gpt"], "bogus", 'device = "bogus"')
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "config train.device must be" in err and "'bogus'" in err
    assert not (tmp_path / "bogus").exists()
    with pytest.raises(SystemExit) as caught:
        main(["train", str(recipe), "--device", "tpu"])
    assert caught.value.code == 2
    assert "--device" in capsys.readouterr().err
