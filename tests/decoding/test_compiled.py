"""torch.compile'd decoding gives the same tokens as eager (slow: the first call compiles)."""

from __future__ import annotations

import pytest
import torch

from bigmodel.decoding import generate
from bigmodel.decoding.compiled import compile_for_decoding
from bigmodel.models.gpt import GPT, GPTConfig


@pytest.mark.slow
def test_compiled_greedy_equals_eager() -> None:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=200, max_seq_len=64, d_model=32, n_layers=2, n_heads=4)).eval()
    ids = torch.randint(0, 200, (1, 6))
    expected = generate(model, ids, max_new_tokens=12, eos_token_id=None)
    compile_for_decoding(model)
    assert torch.equal(generate(model, ids, max_new_tokens=12, eos_token_id=None), expected)
    longer = torch.randint(0, 200, (1, 9))  # another prompt length: no recompilation needed
    assert generate(model, longer, max_new_tokens=5, eos_token_id=None).shape == (1, 14)
