"""The native tanh GELU: equal to F.gelu(x, approximate="tanh") within float rounding (tails,
extremes, NaN), chosen by measurement and kept in the kernel cache, and out of the way where it
cannot run, needs a gradient or is off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bigmodel.nn import kernel_cache, native_build, native_gelu
from bigmodel.nn.feedforward import FeedForward

needs_kernel = pytest.mark.skipif(not native_gelu.available(), reason="no C++ compiler or no AVX-512 here")


@needs_kernel
@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-6), (torch.bfloat16, 1e-2)])
@pytest.mark.parametrize("shape", [(1, 3072), (3, 7), (512, 97), (40000,), (2, 5, 33)])
def test_it_equals_f_gelu_tanh(dtype: torch.dtype, tolerance: float, shape: tuple[int, ...]) -> None:
    torch.manual_seed(sum(shape))
    x = (torch.randn(shape) * 4).to(dtype)
    got, expected = native_gelu.gelu_tanh(x), F.gelu(x, approximate="tanh")
    assert got.shape == x.shape and got.dtype == dtype
    scale = float(expected.float().abs().max())
    torch.testing.assert_close(got.float(), expected.float(), atol=tolerance * scale, rtol=tolerance)


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_extremes_and_nan_are_those_of_f_gelu(dtype: torch.dtype) -> None:
    x = torch.tensor([0.0, -0.0, 1e-30, 100.0, -100.0, 1e30, -1e30, float("inf"), float("-inf"),
                      float("nan"), 5.0, -30.0]).to(dtype)
    got, expected = native_gelu.gelu_tanh(x).float(), F.gelu(x, approximate="tanh").float()
    assert torch.equal(got.isnan(), expected.isnan())
    finite = ~expected.isnan()
    torch.testing.assert_close(got[finite], expected[finite], atol=1e-6, rtol=1e-2)


@needs_kernel
def test_the_choice_is_measured_once_and_kept(cache_file: Path, fake_timer: None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native_gelu, "measure", lambda width, dtype, rows: {"f_gelu": 2.0, "native": 1.0})
    assert native_gelu.choose(64, torch.float32, 1) == "native"
    entries = json.loads(cache_file.read_text())["entries"]
    assert entries[native_gelu.entry_name(64, torch.float32, "1")]["winner"] == "native"
    kernel_cache.forget_tables()  # a new process reads the file
    monkeypatch.setattr(native_gelu, "measure", lambda width, dtype, rows: pytest.fail("measured again"))
    assert native_gelu.choose(64, torch.float32, 1) == "native"


def test_off_means_f_gelu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernel_cache.ENV, "off")
    assert native_gelu.choose(64, torch.float32, 1) == "f_gelu"


def test_without_a_compiler_only_f_gelu_is_measured(monkeypatch: pytest.MonkeyPatch, cache_file: Path) -> None:
    monkeypatch.setattr(native_build, "compiler", lambda: None)
    native_gelu.library.cache_clear()
    try:
        assert not native_gelu.available()
        assert set(native_gelu.measure(16, torch.float32, 1)) == {"f_gelu"}
        with pytest.raises(RuntimeError):
            native_gelu.gelu_tanh(torch.randn(4))
    finally:
        native_gelu.library.cache_clear()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_fused_feed_forward_equals_the_module(dtype: torch.dtype, cache_file: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With the native GELU chosen (where it can run) the fused path equals the module's."""
    winner = "native" if native_gelu.available() else "f_gelu"
    monkeypatch.setattr(native_gelu, "measure", lambda width, dtype, rows: {"f_gelu": 2.0, winner: 1.0})
    torch.manual_seed(0)
    block = FeedForward(24, 80, activation="gelu_new").eval().to(dtype)
    x = torch.randn(2, 9, 24).to(dtype)
    with torch.inference_mode():
        fused, reference = block.fused()(x), block(x)
    allowed = 1e-5 if dtype == torch.float32 else 3e-2
    torch.testing.assert_close(fused.float(), reference.float(), atol=allowed, rtol=allowed)
    entries = json.loads(cache_file.read_text())["entries"]
    assert {e["winner"] for e in entries.values()} >= {winner}


def test_with_a_gradient_it_is_f_gelu() -> None:
    x = torch.randn(3, 8, requires_grad=True)
    native_gelu.inference_gelu_tanh()(x).sum().backward()
    expected = torch.autograd.grad(F.gelu(x, approximate="tanh").sum(), x)[0]
    torch.testing.assert_close(x.grad, expected)
