"""Two processes under torchrun (DDP or FSDP, gloo on CPU) follow the one-process loss curve."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RECIPE = """
[model.config]
n_layers = 2
d_model = 32
n_heads = 2
dropout = 0.0
attn_dropout = 0.0
[data]
path = "{data}"
seq_len = 32
[train]
max_steps = 5
batch_size = 2
lr = 3e-3
warmup_steps = 1
log_every = 1
eval_every = 0
eval_batches = 2
progress = false
peak_gflops = 100.0
num_threads = 1
"""


def _losses(run: Path) -> list[tuple[int, str, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["split"], r["loss"]) for r in rows]


def _run(args: list[str]) -> None:
    env = os.environ | {"PYTHONPATH": str(Path(__file__).parents[2] / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("strategy", ["ddp", pytest.param("fsdp", marks=pytest.mark.slow)])
def test_two_processes_match_one_process_with_the_same_global_batch(corpus: dict[str, Path], tmp_path: Path,
                                                                    strategy: str) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text(RECIPE.format(data=corpus["gpt"]))
    _run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "bigmodel", "train",
          str(recipe), f"train.out_dir={tmp_path / 'two'}", "train.grad_accum=1", f"train.distributed={strategy}"])
    _run(["-m", "bigmodel", "train", str(recipe), f"train.out_dir={tmp_path / 'one'}", "train.grad_accum=2"])
    two, one = _losses(tmp_path / "two"), _losses(tmp_path / "one")
    assert [(s, k) for s, k, _ in two] == [(s, k) for s, k, _ in one] and len(one) == 6
    for (_, _, a), (_, _, b) in zip(two, one, strict=True):
        assert a == pytest.approx(b, abs=1e-5)
