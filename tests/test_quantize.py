"""Int8 weight-only linear layers: close to the float layer, and a quantized GPT still decodes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bigmodel.decoding import generate
from bigmodel.errors import BigModelError
from bigmodel.models.gpt import GPT, GPTConfig
from bigmodel.quantize import Int8Linear, quantize_int8, quantize_weight


def test_weight_roundtrip_error_is_at_most_half_a_step() -> None:
    w = torch.randn(37, 50)
    q, scale = quantize_weight(w)
    assert q.dtype == torch.int8 and scale.shape == (37,)
    assert ((q.float() * scale[:, None] - w).abs() <= scale[:, None] / 2 + 1e-6).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_int8_linear_matches_float_linear(dtype) -> None:
    linear = nn.Linear(64, 48).to(dtype)
    x = torch.randn(3, 5, 64, dtype=dtype)
    q = Int8Linear.from_linear(linear)
    expected, got = linear(x).float(), q(x).float()
    assert got.shape == expected.shape and got.dtype == torch.float32
    rel = (got - expected).norm() / expected.norm()
    assert rel < (0.02 if dtype == torch.float32 else 0.05)


def test_quantized_gpt_logits_close_and_generation_runs() -> None:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=120, max_seq_len=64, d_model=64, n_layers=2, n_heads=4)).eval()
    ids = torch.randint(0, 120, (2, 12))
    with torch.no_grad():
        ref = model(ids).logits
    quantized = quantize_int8(model)
    assert sum(isinstance(m, Int8Linear) for m in quantized.modules()) == 2 * 4 + 1  # blocks + LM head
    with torch.no_grad():
        got = quantized(ids).logits
    cos = torch.nn.functional.cosine_similarity(got.flatten(), ref.flatten(), dim=0)
    assert cos > 0.999
    out = generate(quantized, ids, max_new_tokens=5, eos_token_id=None)
    assert out.shape == (2, 17)


def test_nothing_to_quantize_is_a_clear_error() -> None:
    with pytest.raises(BigModelError, match="no Linear"):
        quantize_int8(nn.Sequential(nn.ReLU()))


def test_a_model_built_and_quantized_inside_inference_mode_generates() -> None:
    """Inference tensors have no version counter: the int8 layers bind their kernels once."""
    config = GPTConfig(vocab_size=97, max_seq_len=64, d_model=48, n_heads=2, n_layers=2, d_ff=80,
                       bos_token_id=None, eos_token_id=None)
    prompt = torch.randint(0, 97, (1, 5))
    torch.manual_seed(0)
    expected = quantize_int8(GPT(config).eval())(prompt).logits
    with torch.inference_mode():
        torch.manual_seed(0)
        quantized = quantize_int8(GPT(config).eval())
        logits = quantized(prompt).logits
        tokens = quantized.generate(prompt, max_new_tokens=3, do_sample=False)
    assert tokens.shape == (1, 8)
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)
