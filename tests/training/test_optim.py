"""AdamW groups and the warmup + cosine schedule."""

from __future__ import annotations

import math

import pytest
import torch

from bigmodel.models.gpt import GPT, GPTConfig
from bigmodel.training.optim import (
    build_optimizer,
    build_scheduler,
    parameter_groups,
    warmup_cosine,
)


def test_matrices_decay_biases_and_norms_do_not_and_tied_weights_count_once() -> None:
    model = GPT(GPTConfig(vocab_size=50, max_seq_len=8, d_model=16, n_layers=1, n_heads=2))
    decay, no_decay = parameter_groups(model, 0.1)
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert no_decay["weight_decay"] == 0.0 and decay["weight_decay"] == 0.1
    counted = sum(p.numel() for g in (decay, no_decay) for p in g["params"])
    assert counted == model.num_parameters()


def test_warmup_then_cosine_to_the_floor() -> None:
    assert warmup_cosine(0, 10, 110) == pytest.approx(0.1)
    assert warmup_cosine(9, 10, 110) == pytest.approx(1.0)
    assert warmup_cosine(10, 10, 110) == pytest.approx(1.0)
    assert warmup_cosine(60, 10, 110, 0.1) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)))
    assert warmup_cosine(110, 10, 110, 0.1) == pytest.approx(0.1)
    model = torch.nn.Linear(2, 2)
    opt = build_optimizer(model, lr=1.0)
    sched = build_scheduler(opt, warmup_steps=2, total_steps=4, min_lr_ratio=0.0)
    lrs = []
    for _ in range(4):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.5, 1.0, 1.0, 0.5])
