"""The native matrix-vector kernels (bf16, fp32): equal to F.linear within float rounding, a
candidate only where they can run, a GPT decoding through them, and cached choices naming them
(or made before they existed) handled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bigmodel.nn import kernel_cache, kernel_choice, linear_kernels, native_build, native_matvec
from bigmodel.nn.fast_linear import inference_linear

needs_kernel = pytest.mark.skipif(not native_matvec.available(torch.bfloat16),
                                  reason="no C++ compiler or no AVX-512 BF16 on this machine")
needs_fp32_kernel = pytest.mark.skipif(not native_matvec.available(torch.float32),
                                       reason="no C++ compiler or no AVX-512 on this machine")
# (dtype, its candidate, the rounding allowed relative to max |y|)
BOTH = [pytest.param(torch.bfloat16, "native_bf16", 2e-2, marks=needs_kernel, id="bf16"),
        pytest.param(torch.float32, "native_fp32", 1e-5, marks=needs_fp32_kernel, id="fp32")]


@pytest.fixture
def no_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native_build, "compiler", lambda: None)
    native_matvec.library.cache_clear()
    native_matvec.available.cache_clear()
    yield
    native_matvec.library.cache_clear()
    native_matvec.available.cache_clear()


def _rig(monkeypatch: pytest.MonkeyPatch, winner: str) -> None:
    """Timings that make ``winner`` the fastest wherever it is offered."""
    def rigged(weight: torch.Tensor, bias: torch.Tensor | None, rows: int) -> dict[str, float]:
        names = [c.name for c in linear_kernels.candidates_for(rows, weight.dtype, bias is not None)]
        return {name: (0.5 if name == winner else 1.0) for name in names}

    monkeypatch.setattr(kernel_choice, "measure", rigged)


@pytest.mark.parametrize("dtype, name, tolerance", BOTH)
@pytest.mark.parametrize("out_features, in_features", [(37, 45), (13, 100), (20, 7), (50, 64)])
@pytest.mark.parametrize("rows", [1, 3, 4, 5, 8])
@pytest.mark.parametrize("bias", [True, False])
def test_the_kernel_equals_f_linear(dtype: torch.dtype, name: str, tolerance: float, out_features: int,
                                    in_features: int, rows: int, bias: bool) -> None:
    torch.manual_seed(out_features * 1000 + in_features + rows)
    weight = torch.randn(out_features, in_features).to(dtype)
    b = torch.randn(out_features).to(dtype) if bias else None
    x = torch.randn(rows, in_features).to(dtype)
    got = native_matvec.bind_linear(weight, b)(x)
    expected = F.linear(x, weight, b)
    assert got.shape == expected.shape and got.dtype == dtype and got.is_contiguous()
    # fp32 sums in another order (in bf16 each rounded to bf16 once): within float rounding of |y|
    scale = float(expected.float().abs().max())
    torch.testing.assert_close(got.float(), expected.float(), atol=tolerance * scale, rtol=tolerance)


@pytest.mark.parametrize("dtype, name, tolerance", BOTH)
def test_output_rows_split_over_two_threads_give_the_same_result(dtype: torch.dtype, name: str,
                                                                  tolerance: float) -> None:
    torch.manual_seed(1)
    weight, bias = torch.randn(70, 40).to(dtype), torch.randn(70).to(dtype)
    x = torch.randn(3, 40).to(dtype)
    kernel = native_matvec.bind_linear(weight, bias)
    one = kernel(x)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        two = kernel(x)
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(two.float(), one.float(), atol=0, rtol=0)  # same sums, same order


@needs_kernel
def test_the_kernel_refuses_what_it_cannot_read() -> None:
    weight = torch.randn(8, 16).bfloat16()
    with pytest.raises(ValueError):
        native_matvec.bind_linear(weight.T.contiguous().T, None)  # not contiguous
    with pytest.raises(ValueError):
        native_matvec.bind_linear(weight.half(), None)
    with pytest.raises(TypeError):
        native_matvec.bind_linear(weight, None)(torch.randn(1, 16))  # fp32 x
    with pytest.raises(ValueError):
        native_matvec.bind_linear(torch.zeros(8, 0, dtype=torch.bfloat16), None)


@pytest.mark.parametrize("dtype, name, tolerance", BOTH)
def test_it_is_a_candidate_for_few_rows_of_its_dtype_only(dtype: torch.dtype, name: str, tolerance: float) -> None:
    names = {(rows, d): [c.name for c in linear_kernels.candidates_for(rows, d, True)]
             for rows in (1, 8, 9, 100) for d in (torch.bfloat16, torch.float32, torch.float16)}
    assert name in names[1, dtype] and name in names[8, dtype]
    assert all(name not in names[rows, dtype] for rows in (9, 100))
    other = [d for d in (torch.bfloat16, torch.float32, torch.float16) if d != dtype]
    assert all(name not in names[rows, d] for rows in (1, 8, 9, 100) for d in other)


def test_without_a_compiler_it_is_not_a_candidate(no_compiler: None) -> None:
    for dtype, name in ((torch.bfloat16, "native_bf16"), (torch.float32, "native_fp32")):
        assert not native_matvec.available(dtype)
        assert name not in [c.name for c in linear_kernels.candidates_for(1, dtype, True)]
        with pytest.raises(RuntimeError):
            native_matvec.bind_linear(torch.randn(4, 4).to(dtype), None)


def test_a_failing_build_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "matvec-0000.so"
    assert not native_build.build("/bin/false", target, native_matvec.CPP_SOURCE, "matvec")
    assert not target.exists()


@pytest.mark.parametrize("dtype, name, tolerance", BOTH)
def test_a_gpt_decodes_through_the_kernel_with_the_eager_logits(dtype: torch.dtype, name: str, tolerance: float,
                                                                cache_file: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from bigmodel.models.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=97, max_seq_len=64, d_model=48, n_heads=2, n_layers=2, d_ff=80,
                          bos_token_id=None, eos_token_id=None)).eval().to(dtype)
    prompt = torch.randint(0, 97, (1, 5))
    _rig(monkeypatch, name)
    scores: list[torch.Tensor] = []

    def record(input_ids: torch.Tensor, step_scores: torch.Tensor) -> torch.Tensor:
        scores.append(step_scores.float().clone())
        return step_scores

    tokens = model.generate(prompt, max_new_tokens=8, do_sample=False, logits_processor=[record])
    entries = json.loads(cache_file.read_text())["entries"]
    winners = {entry["winner"] for key, entry in entries.items() if key.startswith("linear")}
    assert winners == {name}  # prefill (5 rows) and decode (1 row) both ran the kernel
    monkeypatch.setenv(kernel_cache.ENV, "off")  # the eager reference: F.linear everywhere
    with torch.inference_mode():
        expected = model(tokens).logits[0, prompt.shape[1] - 1:-1].float()  # (8, vocab)
    got = torch.cat(scores)
    scale = float(expected.abs().max())
    allowed = 5e-2 if dtype == torch.bfloat16 else 1e-4
    torch.testing.assert_close(got, expected, atol=allowed * scale, rtol=allowed)


def _stale_file(path: Path, name: str, entry: dict[str, object]) -> None:
    path.write_text(json.dumps({"key": kernel_cache.machine_key(), "entries": {name: entry}}))


def test_a_cached_native_choice_is_remeasured_where_it_is_unavailable(cache_file: Path, fake_timer: None,
                                                                      no_compiler: None) -> None:
    layer = torch.nn.Linear(16, 12).to(torch.bfloat16)
    name = kernel_choice.entry_name(12, 16, True, torch.bfloat16, "1")
    _stale_file(cache_file, name, {"winner": "native_bf16"})
    x = torch.randn(1, 16).bfloat16()
    with torch.inference_mode():
        got = inference_linear(layer)(x)
    torch.testing.assert_close(got.float(), F.linear(x, layer.weight, layer.bias).float(), atol=3e-2, rtol=3e-2)
    entry = json.loads(cache_file.read_text())["entries"][name]
    assert entry["winner"] != "native_bf16" and "native_bf16" not in entry["candidates"]


@needs_kernel
def test_an_entry_measured_before_the_kernel_existed_is_measured_again(cache_file: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    layer = torch.nn.Linear(16, 12).to(torch.bfloat16)
    name = kernel_choice.entry_name(12, 16, True, torch.bfloat16, "1")
    old = {"winner": "mv", "microseconds": {"f_linear": 9.0, "mv": 5.0, "addmv": 6.0, "packed": 7.0}}
    _stale_file(cache_file, name, old)
    _rig(monkeypatch, "native_bf16")
    assert kernel_choice.choose(layer.weight, layer.bias, 1) == "native_bf16"
    entry = json.loads(cache_file.read_text())["entries"][name]
    assert entry["winner"] == "native_bf16" and "native_bf16" in entry["candidates"]
    kernel_cache.forget_tables()  # a new process: the new entry is kept, not measured again
    monkeypatch.setattr(kernel_choice, "measure", lambda w, b, rows: pytest.fail("measured again"))
    assert kernel_choice.choose(layer.weight, layer.bias, 1) == "native_bf16"


@pytest.mark.parametrize("dtype, name, tolerance", BOTH)
def test_a_weight_the_chosen_kernel_cannot_read_runs_f_linear(dtype: torch.dtype, name: str, tolerance: float,
                                                              cache_file: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The choice is per shape: a second layer of the shape whose weight is a transposed view
    (not contiguous) gets F.linear instead of an error."""
    _rig(monkeypatch, name)
    layer = torch.nn.Linear(16, 12).to(dtype)
    other = torch.nn.Linear(16, 12).to(dtype)
    other.weight = torch.nn.Parameter(other.weight.detach().T.contiguous().T)  # same values, strided
    x = torch.randn(1, 16).to(dtype)
    with torch.inference_mode():
        inference_linear(layer)(x)
        got = inference_linear(other)(x)
    torch.testing.assert_close(got.float(), F.linear(x, other.weight, other.bias).float(), atol=3e-2, rtol=3e-2)
