"""One Transformer block: its fused inference path (growing cache, static cache, compiled)
computes what the plain eager ``block(...)`` does, whatever the block is made of (bias or
not, the activation, LoRA adapters, int8 weights)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from bigmodel.models.gpt import GPT, GPTConfig
from bigmodel.nn import KVCache, TransformerBlock, make_attention_bias
from bigmodel.nn.attention import GrowingCacheAttention, StaticCacheAttention
from bigmodel.nn.lora import apply_lora
from bigmodel.quantize import quantize_int8

VOCAB = 97
ATOL = 1e-4  # float32; int8 rows may take another kernel path between batch shapes
INT8_ATOL = 2e-2  # fp32 activations may be rounded to bf16 inside the int8 kernel


def _with_lora(model: torch.nn.Module) -> torch.nn.Module:
    apply_lora(model, rank=4, target_modules=("qkv_proj", "out_proj", "fc_in", "fc_out"))
    torch.manual_seed(5)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("lora_B.weight"):
                p.normal_(std=0.05)  # B starts at zero: make the adapters change the output
    return model.eval()


VARIANTS: dict[str, tuple[dict, Callable[[torch.nn.Module], torch.nn.Module] | None]] = {
    "bias-gelu_new": ({}, None),
    "no-bias": ({"bias": False}, None),
    "relu": ({"activation": "relu"}, None),
    "gelu": ({"activation": "gelu"}, None),
    "lora": ({}, _with_lora),
    "int8": ({}, quantize_int8),
}


def _gpt(variant: str, max_seq_len: int = 64) -> GPT:
    overrides, change = VARIANTS[variant]
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=VOCAB, max_seq_len=max_seq_len, d_model=32, n_layers=2, n_heads=4,
                       dropout=0.0, attn_dropout=0.0, **overrides)
    model = GPT(config).eval()
    return change(model) if change is not None else model


def _atol(variant: str) -> float:
    return INT8_ATOL if variant == "int8" else ATOL


def _reference_greedy(model: GPT, ids: torch.Tensor,
                      steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy decoding by re-running the whole sequence through ``block(...)`` (no cache):
    the tokens and each step's last-position logits (B, steps, vocab)."""
    logits = []
    with torch.no_grad():
        for _ in range(steps):
            last = model(ids).logits[:, -1]
            logits.append(last)
            ids = torch.cat([ids, last.argmax(-1, keepdim=True)], dim=1)
    return ids, torch.stack(logits, dim=1)


def _decoded_logits(model: GPT, ids: torch.Tensor,
                    steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy decoding through the model's cached path (prefill, then one token a step)."""
    cache = model.new_kv_cache(ids.shape[0], ids.shape[1] + steps)
    logits = []
    with torch.no_grad():
        step_ids = ids
        for _ in range(steps):
            last = model(step_ids, kv_cache=cache).logits[:, -1]
            logits.append(last)
            step_ids = last.argmax(-1, keepdim=True)
            ids = torch.cat([ids, step_ids], dim=1)
    return ids, torch.stack(logits, dim=1)


def _assert_greedy_matches(model: GPT, variant: str, ids: torch.Tensor, steps: int = 10) -> None:
    tokens, logits = _decoded_logits(model, ids, steps)
    ref_tokens, ref_logits = _reference_greedy(model, tokens[:, :-1], 1)
    # The reference's logits along the fused path's own tokens (never bitwise: other kernels).
    with torch.no_grad():
        along = model(tokens[:, :-1]).logits[:, ids.shape[1] - 1:]
    assert torch.allclose(logits, along, atol=_atol(variant), rtol=0), (logits - along).abs().max()
    expected, _ = _reference_greedy(model, ids, steps)
    assert torch.equal(tokens, expected)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_fused_decoding_equals_eager_blocks(variant: str) -> None:
    model = _gpt(variant)
    ids = torch.randint(0, VOCAB, (2, 7))
    _assert_greedy_matches(model, variant, ids)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_static_cache_step_equals_eager_blocks(variant: str) -> None:
    model = _gpt(variant, max_seq_len=200)
    model.use_static_decode_step()  # eager: the same path the compiled one traces
    ids = torch.randint(0, VOCAB, (2, 7))
    _assert_greedy_matches(model, variant, ids)


@pytest.mark.parametrize("norm_first", [True, False], ids=["pre-LN", "post-LN"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("act", ["gelu", "relu"])
def test_block_fused_path_equals_forward(norm_first: bool, bias: bool, act: str) -> None:
    torch.manual_seed(0)
    block = TransformerBlock(32, 4, 64, norm_first=norm_first, causal=True, activation=act,
                             bias=bias).eval()
    x = torch.randn(2, 9, 32)
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[1, :3] = 0  # left padding
    bias_ = make_attention_bias(mask, x.dtype)
    with torch.no_grad():
        expected, _, _ = block(x, attn_bias=bias_)
        fused = block.fused()
        cache = KVCache(1, 2, 4, 8, 9)
        prefill = fused(x[:, :6], GrowingCacheAttention(cache, bias_[..., :6]), 0)
        steps = [fused(x[:, t:t + 1], GrowingCacheAttention(cache, bias_[..., :t + 1]), 0)
                 for t in range(6, 9)]
        # Static whole cache: 12 slots, the current position and earlier real tokens allowed.
        keys, values = [torch.zeros(2, 4, 12, 8)], [torch.zeros(2, 4, 12, 8)]
        for t in range(9):
            allowed = torch.zeros(2, 1, 1, 12, dtype=torch.bool)
            allowed[:, 0, 0, :t + 1] = mask[:, :t + 1].bool()
            attention = StaticCacheAttention(keys, values, allowed, torch.tensor([t]))
            static = fused(x[:, t:t + 1], attention, 0)
            real = mask[:, t].bool()
            assert torch.allclose(static[real], expected[real, t:t + 1], atol=ATOL, rtol=0), t
    # Padding positions see only padding: their (unused) outputs depend on how many keys exist.
    real = mask.bool()
    assert torch.allclose(prefill[real[:, :6]], expected[:, :6][real[:, :6]], atol=ATOL, rtol=0)
    assert torch.allclose(torch.cat(steps, dim=1), expected[:, 6:], atol=ATOL, rtol=0)


def test_cross_attention_block_has_no_fused_path() -> None:
    block = TransformerBlock(32, 4, 64, norm_first=True, cross_attention=True)
    with pytest.raises(ValueError, match="cross-attention"):
        block.fused()


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["bias-gelu_new", "no-bias", "lora", "int8"])
def test_compiled_static_step_equals_eager_blocks(variant: str) -> None:
    model = _gpt(variant, max_seq_len=200)
    model.compile_for_decoding()
    ids = torch.randint(0, VOCAB, (1, 7))
    _assert_greedy_matches(model, variant, ids, steps=6)
