"""Tiny random GPT-2 checkpoints shared by the generation tests (transformers = the oracle)."""

from __future__ import annotations

import pytest
import torch

import bigmodel as bm

transformers = pytest.importorskip("transformers")

VOCAB = 99
EOS = 98


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory):
    """(transformers model, bigmodel model) with the same random weights."""
    torch.manual_seed(3)
    config = transformers.GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                     bos_token_id=EOS, eos_token_id=EOS)
    hf = transformers.GPT2LMHeadModel(config).eval()
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    hf.save_pretrained(folder)
    return hf, bm.load(folder)


@pytest.fixture(scope="session")
def left_padded_batch():
    """Three prompts of lengths 3, 7 and 5, left-padded with 0: (input_ids, attention_mask)."""
    g = torch.Generator().manual_seed(11)
    rows = [torch.randint(1, EOS, (n,), generator=g).tolist() for n in (3, 7, 5)]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask
