"""MFU counts the FLOPs a step really does and stays at or below 100%."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bigmodel.models.gpt import GPT, GPTConfig
from bigmodel.training.flops import PeakCheck, measure_peak_gflops, training_flops_per_token
from bigmodel.training.trainer import Trainer


def test_flops_per_token_is_three_forward_passes_of_the_matmul_weights() -> None:
    L, d, f, V, T = 2, 32, 128, 300, 64
    model = GPT(GPTConfig(n_layers=L, d_model=d, n_heads=2, d_ff=f, vocab_size=V, max_seq_len=T))
    by_hand = 3 * (2 * (L * (4 * d * d + 2 * d * f) + V * d) + 2 * L * T * d)  # causal: T/2 keys
    assert training_flops_per_token(model, T) == by_hand
    # 6N would count the position table and biases a token never multiplies by
    assert by_hand < 6 * model.num_parameters() + 12 * L * d * T


def test_peak_is_the_best_of_several_sizes() -> None:
    torch.manual_seed(0)
    small = measure_peak_gflops(torch.float32, sizes=(256,), reps=2)
    best = measure_peak_gflops(torch.float32, sizes=(256, 512), reps=2)
    assert best > 0 and small > 0


def test_a_step_faster_than_the_measured_peak_raises_it_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    check = PeakCheck(10.0, declared=False)
    assert check.mfu(1e9, 20.0) == pytest.approx(1.0)  # 20 GFLOP/s > 10 measured
    assert check.mfu(1e9, 10.0) == pytest.approx(0.5)
    assert capsys.readouterr().err.count("above the") == 1
    declared = PeakCheck(10.0, declared=True)
    assert declared.mfu(1e9, 20.0) == pytest.approx(2.0)
    assert "train.peak_gflops" in capsys.readouterr().err


def test_training_run_reports_mfu_at_most_100_percent(corpus: dict[str, Path], tmp_path: Path,
                                                     make_gpt_config) -> None:
    Trainer(make_gpt_config(corpus["gpt"], tmp_path, max_steps=4, log_every=1)).train()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    mfu = [r["mfu"] for r in rows if r["split"] == "train"]
    assert mfu and all(0 < m <= 1.0 + 1e-9 for m in mfu)
