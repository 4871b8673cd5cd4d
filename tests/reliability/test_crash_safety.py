"""SIGKILL `bigmodel train` at random moments, resume each time: nothing is lost.

Some kills land while a checkpoint is being written (a ``.tmp-step-*`` folder exists).
After every kill, every checkpoint on disk must load, and ``latest`` must name one of them;
the run resumed through all the kills must end with the same weights and the same loss
curve as a run that was never interrupted.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bigmodel.data.text import prepare_corpus
from bigmodel.hub import read_weights
from bigmodel.tokenization import train_tokenizer
from bigmodel.training.trainer import CHECKPOINTS, LATEST, METRICS_FILE, OPTIMIZER_FILE, STATE_FILE

pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[2] / "src"
KILLS = 12
MAX_STEPS = 40
WORDS = "the cat sat on a mat while dog ran far away in house with big red door".split()


def _recipe(data: Path, out: Path) -> str:
    return f"""
[task]
kind = "causal_lm"

[model.config]
n_layers = 2
d_model = 32
n_heads = 2
dropout = 0.1
attn_dropout = 0.1

[data]
path = "{data}"
seq_len = 16

[train]
out_dir = "{out}"
max_steps = {MAX_STEPS}
batch_size = 4
lr = 3e-3
warmup_steps = 2
eval_every = 10
eval_batches = 2
save_every = 1
log_every = 1
progress = false
peak_gflops = 100.0
seed = 0
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crash-corpus")
    rng = random.Random(0)
    docs = ["\n".join(" ".join(rng.choice(WORDS) for _ in range(8)) + "." for _ in range(5)) for _ in range(30)]
    text = root / "corpus.txt"
    text.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    tok = train_tokenizer([text], kind="bpe", vocab_size=300, out_dir=root / "tok", show_progress=False)
    prepare_corpus([text], tok, root / "data", show_progress=False)
    return root / "data"


def _start(config: Path, resume: bool) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    argv = [sys.executable, "-m", "bigmodel", "train", str(config)] + (["--resume"] if resume else [])
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _latest(out: Path) -> str | None:
    try:
        return (out / CHECKPOINTS / LATEST).read_text().strip()
    except FileNotFoundError:
        return None


def _writing(out: Path) -> bool:
    try:
        return any(entry.name.startswith(".tmp-") for entry in os.scandir(out / CHECKPOINTS))
    except FileNotFoundError:
        return False


def _check_checkpoints_readable(out: Path) -> None:
    root = out / CHECKPOINTS
    latest = _latest(out)
    assert latest is not None and (root / latest).is_dir(), f"latest names {latest!r}, which is not on disk"
    for folder in sorted(root.glob("step-*")):
        assert read_weights(folder), folder
        state = torch.load(folder / STATE_FILE, weights_only=True)
        assert state["step"] == int(folder.name.split("-")[1])
        torch.load(folder / OPTIMIZER_FILE, weights_only=True)


def _train_losses(out: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if r["split"] == "train"}


def _kill_at_random_moment(proc: subprocess.Popen, out: Path, rng: random.Random, during_write: bool) -> bool:
    """SIGKILL ``proc`` once it has made progress; True when a checkpoint write was cut."""
    before = _latest(out)
    deadline = time.monotonic() + 120
    while _latest(out) == before and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if during_write:
        while not _writing(out) and proc.poll() is None and time.monotonic() < deadline:
            pass
    else:
        time.sleep(rng.uniform(0.0, 0.05))
    cut = _writing(out)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return cut and proc.returncode == -signal.SIGKILL


def test_sigkill_and_resume_match_an_uninterrupted_run(data: Path, tmp_path: Path) -> None:
    straight_out, crashed_out = tmp_path / "straight", tmp_path / "crashed"
    (tmp_path / "straight.toml").write_text(_recipe(data, straight_out))
    (tmp_path / "crashed.toml").write_text(_recipe(data, crashed_out))
    straight = _start(tmp_path / "straight.toml", resume=False)
    assert straight.wait(timeout=300) == 0, straight.stderr.read().decode()

    rng = random.Random(1234)
    kills = cut_writes = 0
    proc = _start(tmp_path / "crashed.toml", resume=False)
    while kills < KILLS and proc.poll() is None:
        if _kill_at_random_moment(proc, crashed_out, rng, during_write=kills % 2 == 0):
            cut_writes += 1
        if proc.returncode == -signal.SIGKILL:
            kills += 1
            _check_checkpoints_readable(crashed_out)
        proc = _start(tmp_path / "crashed.toml", resume=True)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()

    assert kills == KILLS, f"the run finished after {kills} kills; give it more steps"
    assert cut_writes >= 1, "no kill landed during a checkpoint write"
    _check_checkpoints_readable(crashed_out)
    assert _train_losses(crashed_out) == _train_losses(straight_out)
    expected = load_file(str(straight_out / "model.safetensors"))
    got = load_file(str(crashed_out / "model.safetensors"))
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
