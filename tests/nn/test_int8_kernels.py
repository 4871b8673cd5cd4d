"""Int8 kernels chosen by measurement: every candidate equals the dequantized product q · s, the
choice is kept in the kernel cache, and whichever kernel wins, a quantized GPT decodes the same."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bigmodel.decoding import generate
from bigmodel.models.gpt import GPT, GPTConfig
from bigmodel.nn import (
    int8_choice,
    int8_kernels,
    int8_native,
    kernel_cache,
    kernel_choice,
    native_build,
)
from bigmodel.quantize import Int8Linear, quantize_int8, quantize_weight


def _tolerance(candidate: int8_kernels.Int8Candidate, dtype: torch.dtype) -> float:
    return 3e-2 if candidate.bf16_activations or dtype == torch.bfloat16 else 1e-5


# (out, in): in not a multiple of 64 and out not a multiple of the native kernel's 4 channels
@pytest.mark.parametrize("shape", [(37, 70), (64, 128), (5, 3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rows", [1, 3, 9, 70])
def test_every_candidate_equals_the_dequantized_product(shape: tuple[int, int], dtype: torch.dtype,
                                                        bias: bool, rows: int) -> None:
    out, n = shape
    q, scale = quantize_weight(torch.randn(out, n))
    b = torch.randn(out) if bias else None
    x = (torch.randn(rows, n) * 4).to(dtype)
    expected = F.linear(x.float(), q.float() * scale[:, None], b)
    size = float(expected.abs().max())
    candidates = int8_kernels.candidates_for(n, dtype)
    assert candidates[0].name == int8_kernels.default_kernel(n, dtype)
    with torch.inference_mode():
        for candidate in candidates:
            got = candidate.build(q, scale.to(dtype), None if b is None else b.to(dtype), dtype)(x)
            assert got.shape == (rows, out) and got.dtype == dtype and got.is_contiguous(), candidate.name
            error = float((got.float() - expected).abs().max())
            assert error <= _tolerance(candidate, dtype) * size, (candidate.name, error, size)


def test_native_kernel_is_exact_to_float_rounding_when_built() -> None:
    if not int8_native.available():
        pytest.skip("no C++ compiler or no AVX-512 VNNI on this machine")
    q, scale = quantize_weight(torch.randn(300, 200))
    x = torch.randn(2, 200) * 100  # a large dynamic range: the three-level split of x still holds
    x[0, 7] = 3000.0
    got = int8_native.int8_linear(x, q, q.sum(1, dtype=torch.int32), scale, None, 4096)
    expected = (x.double() @ (q.double() * scale.double()[:, None]).T)
    assert float((got.double() - expected).abs().max() / expected.abs().max()) < 1e-6


def test_a_failed_build_leaves_no_library_behind(tmp_path: Path) -> None:
    target = tmp_path / "int8-test.so"
    assert not native_build.build("/bin/false", target, int8_native.CPP_SOURCE, "int8")
    assert not target.exists() and not list(tmp_path.glob(".*.tmp"))


def test_choice_is_measured_once_and_kept_in_the_cache_file(cache_file: Path, fake_timer: None) -> None:
    q, scale = quantize_weight(torch.randn(24, 40))
    winner = int8_choice.choose(q, scale, None, torch.float32, rows=1)
    assert winner in int8_kernels.BY_NAME
    entries = json.loads(cache_file.read_text())["entries"]
    assert list(entries) == ["int8-linear 24x40 float32 rows 1"]
    assert set(entries["int8-linear 24x40 float32 rows 1"]["microseconds"]) == {
        c.name for c in int8_kernels.candidates_for(40, torch.float32, 1)}
    before = kernel_choice.measured["entries"]
    assert int8_choice.choose(q, scale, None, torch.float32, rows=1) == winner
    assert kernel_choice.measured["entries"] == before  # from the cache, not measured again


def test_an_int8_entry_measured_before_a_kernel_existed_is_measured_again(cache_file: Path,
                                                                         fake_timer: None) -> None:
    """As for the float linears: an entry that did not time a kernel offered now (the native one,
    built since) is measured again, and its new entry names every candidate it timed."""
    q, scale = quantize_weight(torch.randn(24, 40))
    name = int8_choice.entry_name(24, 40, False, torch.float32, "1")
    default = int8_kernels.default_kernel(40, torch.float32)
    cache_file.write_text(json.dumps({"key": kernel_cache.machine_key(),
                                      "entries": {name: {"winner": default, "microseconds": {default: 1.0}}}}))
    offered = {c.name for c in int8_kernels.candidates_for(40, torch.float32, 1)}
    before = kernel_choice.measured["entries"]
    int8_choice.choose(q, scale, None, torch.float32, rows=1)
    entry = json.loads(cache_file.read_text())["entries"][name]
    assert kernel_choice.measured["entries"] == before + (1 if offered != {default} else 0)
    assert set(entry.get("candidates", entry["microseconds"])) == offered


def test_cache_off_runs_todays_kernel_without_measuring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernel_cache.ENV, "off")
    monkeypatch.setattr(int8_choice, "measure", lambda *a, **k: pytest.fail("measured with the cache off"))
    q, scale = quantize_weight(torch.randn(8, 16))
    assert int8_choice.choose(q, scale, None, torch.float32, 1) == int8_kernels.default_kernel(16, torch.float32)


def _tiny_gpt() -> GPT:
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=96, max_seq_len=64, d_model=64, n_layers=2, n_heads=4, dropout=0.0)
    return GPT(config).eval()


@pytest.mark.parametrize("winner", [c.name for c in int8_kernels.CANDIDATES])
def test_whichever_kernel_wins_a_quantized_gpt_decodes_the_same(
        winner: str, cache_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rigged timings make each kernel the winner in turn; logits stay within tolerance of the
    exact dequantized path and greedy tokens change only where the tolerance allows."""
    candidate = int8_kernels.BY_NAME[winner]
    if not candidate.applies(64, torch.float32):
        pytest.skip(f"{winner} does not apply on this machine")

    def rigged(q, scale, bias, dtype, rows):  # noqa: ANN001, ANN202 - measure's signature
        return {c.name: (0.5 if c.name == winner else 1.0) for c in int8_kernels.candidates_for(q.shape[1], dtype)}

    ids = torch.randint(0, 96, (1, 6))
    monkeypatch.setenv(kernel_cache.ENV, "off")
    with monkeypatch.context() as patch:
        patch.setattr(int8_kernels, "default_kernel", lambda n, dtype: "dequant")  # exact in fp32
        exact = quantize_int8(_tiny_gpt())
        with torch.no_grad():
            exact_logits = exact(ids).logits
    monkeypatch.setenv(kernel_cache.ENV, str(cache_file))
    monkeypatch.setattr(int8_choice, "measure", rigged)
    quantized = quantize_int8(_tiny_gpt())
    with torch.no_grad():
        logits = quantized(ids).logits
    tokens = generate(quantized, ids, max_new_tokens=12, eos_token_id=None)
    atol = 2e-2 if candidate.bf16_activations else 1e-4
    torch.testing.assert_close(logits, exact_logits, atol=atol, rtol=0)
    # Each greedy token is the exact model's best along the same prefix, or within the
    # tolerance of it (a near tie may go either way).
    with torch.no_grad():
        along = exact(tokens[:, :-1]).logits[0, ids.shape[1] - 1:]  # (12, vocab)
    picked = along.gather(1, tokens[0, ids.shape[1]:, None])[:, 0]
    assert (picked >= along.max(dim=1).values - 2 * atol).all()
    entries = json.loads(cache_file.read_text())["entries"]
    chosen = {e["winner"] for name, e in entries.items() if name.startswith("int8-")}
    assert chosen == {winner}


def test_layer_follows_its_weights_and_survives_copying(cache_file: Path, fake_timer: None) -> None:
    layer = Int8Linear.from_linear(torch.nn.Linear(16, 8))
    x = torch.randn(1, 16)
    with torch.no_grad():
        before = layer(x)
        assert torch.allclose(pickle.loads(pickle.dumps(layer))(x), before)
        layer.qweight.zero_()  # modified in place: the kernel is rebuilt, not stale
        assert torch.allclose(layer(x), layer.bias.expand(1, 8))


def test_inference_function_equals_the_layer(cache_file: Path, fake_timer: None) -> None:
    from bigmodel.nn.fast_linear import inference_linear

    layer = Int8Linear.from_linear(torch.nn.Linear(32, 12))
    fast = inference_linear(layer)  # what the fused decoding path calls
    assert fast is not layer
    with torch.inference_mode():
        for x in (torch.randn(1, 1, 32), torch.randn(2, 5, 32), torch.randn(3, 32).bfloat16()):
            torch.testing.assert_close(fast(x), layer(x))
