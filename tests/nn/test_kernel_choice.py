"""Kernel choice by measurement: every candidate equals F.linear, the cache file is keyed by the
machine and survives bogus or stale contents, and `bigmodel tune` fills it."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bigmodel.cli import main
from bigmodel.nn import kernel_cache, kernel_choice, linear_kernels
from bigmodel.nn.fast_linear import inference_linear


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rows", [1, 4, 40, 100])
def test_every_candidate_equals_f_linear(dtype: torch.dtype, bias: bool, rows: int) -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(48, 80, bias=bias).to(dtype)
    x = torch.randn(rows, 48).to(dtype)
    candidates = linear_kernels.candidates_for(rows, dtype, bias)
    assert candidates[0].name == "f_linear"
    tolerance = 1e-5 if dtype == torch.float32 else 3e-2
    with torch.inference_mode():
        expected = F.linear(x, layer.weight, layer.bias).float()
        for candidate in candidates:
            got = candidate.build(layer.weight, layer.bias)(x)
            assert got.shape == (rows, 80) and got.dtype == dtype and got.is_contiguous(), candidate.name
            torch.testing.assert_close(got.float(), expected, atol=tolerance, rtol=tolerance,
                                       msg=f"{candidate.name} differs from F.linear")


@pytest.mark.parametrize("winner", [c.name for c in linear_kernels.CANDIDATES])
def test_whichever_kernel_wins_the_layer_equals_f_linear(winner: str, cache_file: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Rigged timings make each kernel the winner in turn; the layer's output stays F.linear's."""
    def rigged(weight: torch.Tensor, bias: torch.Tensor | None, rows: int) -> dict[str, float]:
        names = [c.name for c in linear_kernels.candidates_for(rows, weight.dtype, bias is not None)]
        return {name: (0.5 if name == winner else 1.0) for name in names}

    monkeypatch.setattr(kernel_choice, "measure", rigged)
    for dtype in (torch.float32, torch.bfloat16):
        layer = torch.nn.Linear(24, 40).to(dtype)
        linear = inference_linear(layer)
        for rows in (1, 4, 40, 100):
            x = torch.randn(2, rows, 24).to(dtype)[:1]  # batch 1 of a larger tensor: a view
            with torch.inference_mode():
                got, expected = linear(x), F.linear(x, layer.weight, layer.bias)
            tolerance = 1e-5 if dtype == torch.float32 else 3e-2
            assert got.shape == (1, rows, 40)
            torch.testing.assert_close(got.float(), expected.float(), atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("winner", ["mv", "transposed", "packed", "numpy"])
def test_a_gpt_generates_the_same_tokens_whichever_kernel_wins(winner: str, cache_file: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from bigmodel.models.gpt import GPT, GPTConfig

    if winner == "numpy":  # offered only at one BLAS and torch thread: its results are what counts here
        monkeypatch.setattr(linear_kernels, "numpy_single_threaded", lambda: True)
    if winner not in [c.name for rows in (1, 4) for c in linear_kernels.candidates_for(rows, torch.float32, True)]:
        pytest.skip(f"{winner} is not offered here")
    model = GPT(GPTConfig(vocab_size=97, max_seq_len=64, d_model=32, n_heads=2, n_layers=2, d_ff=64,
                          bos_token_id=None, eos_token_id=None)).eval()
    prompt = torch.randint(0, 97, (2, 5))
    monkeypatch.setenv(kernel_cache.ENV, "off")
    expected = model.generate(prompt, max_new_tokens=6, do_sample=False)
    monkeypatch.setenv(kernel_cache.ENV, str(cache_file))

    def rigged(weight: torch.Tensor, bias: torch.Tensor | None, rows: int) -> dict[str, float]:
        names = [c.name for c in linear_kernels.candidates_for(rows, weight.dtype, bias is not None)]
        return {name: (0.5 if name == winner else 1.0) for name in names}

    monkeypatch.setattr(kernel_choice, "measure", rigged)
    for batch in (prompt[:1], prompt):
        got = model.generate(batch, max_new_tokens=6, do_sample=False)
        assert torch.equal(got, expected[: len(batch)])  # fp32, a tiny model: same greedy tokens
    assert any(entry["winner"] == winner for entry in json.loads(cache_file.read_text())["entries"].values())


def test_a_win_within_timing_noise_keeps_f_linear() -> None:
    assert kernel_choice.fastest({"f_linear": 1.0, "mv": 0.99, "addmv": 1.2}) == "f_linear"
    assert kernel_choice.fastest({"f_linear": 1.0, "mv": 0.9, "addmv": 0.8}) == "addmv"
    assert kernel_choice.fastest({}) == "f_linear"

def test_a_burst_of_load_during_one_candidate_does_not_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process takes the cores for the first calls timed (a fake clock: 'fast' costs
    1, 'slow' 2, and every call of the first five costs 10 more): the fast kernel still wins."""
    clock = [0.0]
    calls = itertools.count()
    monkeypatch.setattr(kernel_choice, "timer", lambda: clock[0])

    def costing(cost: float):
        def kernel(x: torch.Tensor) -> torch.Tensor:
            clock[0] += cost + (10.0 if next(calls) < 5 else 0.0)
            return x
        return [kernel]

    seconds = kernel_choice.interleaved_seconds({"fast": costing(1.0), "slow": costing(2.0)}, torch.zeros(1))
    assert seconds == {"fast": 1.0, "slow": 2.0}



def test_f_linear_is_always_a_candidate() -> None:
    for rows, dtype, bias in itertools.product([1, 2, 8, 9, 64, 65, 512],
                                               [torch.float32, torch.bfloat16, torch.float16], [True, False]):
        assert "f_linear" in [c.name for c in linear_kernels.candidates_for(rows, dtype, bias)]


def test_inside_inference_mode_every_candidate_is_timed_on_the_copies() -> None:
    """Decoding measures inside inference_mode, where the weight's cold copies are inference
    tensors (no version counter): a candidate keeping a packed copy of them is timed too, and one
    failing candidate never empties the measurement."""
    weight, bias = torch.randn(64, 32), torch.randn(64)
    offered = {c.name for c in linear_kernels.candidates_for(1, torch.float32, True)}
    with torch.inference_mode():
        seconds = kernel_choice.measure(weight, bias, rows=1)
    assert set(seconds) == offered


def test_a_candidate_that_disagrees_or_fails_is_never_chosen(monkeypatch: pytest.MonkeyPatch,
                                                              fake_timer: None) -> None:
    wrong = linear_kernels.Candidate("wrong", lambda w, b: (lambda x: F.linear(x, w, b) + 1.0),
                                     lambda rows, dtype, bias: True)
    broken = linear_kernels.Candidate("broken", lambda w, b: (lambda x: torch.ops.aten.mm(x, x)),
                                      lambda rows, dtype, bias: True)
    monkeypatch.setattr(linear_kernels, "CANDIDATES", (*linear_kernels.CANDIDATES, wrong, broken))
    seconds = kernel_choice.measure(torch.randn(8, 6), torch.randn(8), rows=3)
    assert "wrong" not in seconds and "broken" not in seconds and "f_linear" in seconds


def test_the_winner_is_the_fastest_and_is_kept_in_the_file(cache_file: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel_choice, "measure", lambda w, b, rows: {"f_linear": 2.0, "mv": 1.0})
    layer = torch.nn.Linear(16, 12)
    with torch.inference_mode():
        inference_linear(layer)(torch.randn(1, 16))
    data = json.loads(cache_file.read_text())
    assert data["key"] == kernel_cache.machine_key()
    assert data["entries"]["linear+bias 12x16 float32 rows 1"]["winner"] == "mv"
    kernel_cache.forget_tables()  # a new process: the choice comes from the file, not measured again
    monkeypatch.setattr(kernel_choice, "measure", lambda w, b, rows: pytest.fail("measured again"))
    assert kernel_choice.choose(layer.weight, layer.bias, 1) == "mv"


@pytest.mark.parametrize("contents", [
    "{not json", "", "[1, 2]", '{"key": {}, "entries": {}}', '{"entries": "x"}', b"\xff\xfe\x00",
    "stale",
])
def test_a_bogus_or_stale_file_is_ignored_and_rebuilt(contents: str | bytes, cache_file: Path,
                                                     fake_timer: None) -> None:
    if contents == "stale":  # written on another CPU with another torch
        key = {**kernel_cache.machine_key(), "cpu": "Some Other CPU", "torch": "0.1"}
        contents = json.dumps({"key": key, "entries": {"linear 12x16 float32 rows 1": {"winner": "mv"}}})
    if isinstance(contents, bytes):
        cache_file.write_bytes(contents)
    else:
        cache_file.write_text(contents)
    layer = torch.nn.Linear(16, 12, bias=False)
    x = torch.randn(3, 16)
    with torch.inference_mode():
        torch.testing.assert_close(inference_linear(layer)(x), F.linear(x, layer.weight))
    data = json.loads(cache_file.read_text())
    assert data["key"] == kernel_cache.machine_key()
    assert set(data["entries"]) == {"linear 12x16 float32 rows 2-8"}


def test_an_unwritable_cache_keeps_the_choices_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         fake_timer: None) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(kernel_cache.ENV, str(blocker / "kernels.json"))  # a folder that is a file
    kernel_cache.forget_tables()
    layer = torch.nn.Linear(16, 12)
    x = torch.randn(2, 16)
    with torch.inference_mode():
        torch.testing.assert_close(inference_linear(layer)(x), layer(x))
    kernel_cache.forget_tables()


def test_the_cache_key_names_the_cpu_torch_and_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    key = kernel_cache.machine_key()
    model, flags = kernel_cache.cpu_description()
    assert key["cpu"] == model and model and key["flags"] == list(flags)
    assert key["torch"] == torch.__version__ and key["threads"] == torch.get_num_threads()
    monkeypatch.delenv(kernel_cache.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/nonexistent-cache")
    path = kernel_cache.cache_path(key)
    assert path == Path("/nonexistent-cache/bigmodel") / f"kernels-{kernel_cache.key_hash(key)}.json"
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        other = kernel_cache.machine_key()
    finally:
        torch.set_num_threads(threads)
    assert other["threads"] == threads + 1 and kernel_cache.cache_path(other) != path
    monkeypatch.setenv(kernel_cache.ENV, "memory")
    assert kernel_cache.cache_path(key) is None


def test_off_means_f_linear_and_no_measurement(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernel_cache.ENV, "off")
    monkeypatch.setattr(kernel_choice, "measure", lambda w, b, rows: pytest.fail("measured"))
    layer = torch.nn.Linear(8, 4)
    assert kernel_choice.choose(layer.weight, layer.bias, 1) == "f_linear"


def test_the_first_measurement_is_announced_once(cache_file: Path, fake_timer: None,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(kernel_choice, "_announced", False)
    monkeypatch.setattr(kernel_choice, "_notices", True)
    layer = torch.nn.Linear(8, 4)
    with torch.inference_mode():
        linear = inference_linear(layer)
        for rows in (1, 5, 20):
            linear(torch.randn(rows, 8))
    err = capsys.readouterr().err
    assert err.count("bigmodel: measuring") == 1 and str(cache_file) in err
    monkeypatch.setattr(kernel_choice, "_announced", False)
    monkeypatch.setattr(kernel_choice, "_notices", False)
    with torch.inference_mode():
        linear(torch.randn(40, 8))
    assert capsys.readouterr().err == ""


def test_row_buckets() -> None:
    assert [kernel_choice.row_bucket(r)[0] for r in (1, 2, 8, 9, 32, 33, 64, 65, 256, 257, 4096)] == [
        "1", "2-8", "2-8", "9-32", "9-32", "33-64", "33-64", "65-256", "65-256", ">256", ">256"]


def test_tune_json_on_a_tiny_model(cache_file: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel_choice, "ROUNDS", 1)  # real timings, but few of them
    monkeypatch.setattr(kernel_choice, "MIN_ROUNDS", 1)
    monkeypatch.setattr(kernel_choice, "MAX_COPIES", 2)
    assert main(["tune", "--model", "tiny-gpt-en", "--rows", "1,8", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cache"] == str(cache_file) and report["machine"]["cpu"]
    choices = report["choices"]
    assert {c["rows"] for c in choices} == {"1", "2-8"} and all(c["speedup"] >= 1.0 for c in choices)
    linears = [c for c in choices if not c["shape"].startswith("gelu-tanh")]
    assert all(c["winner"] in c["microseconds"] and "f_linear" in c["microseconds"] for c in linears)
    # tiny-gpt-en's feed-forward is GPT-2's tanh GELU: its kernel is tuned too
    gelus = [c for c in choices if c["shape"].startswith("gelu-tanh")]
    assert {c["rows"] for c in gelus} == {"1", "2-8"}
    assert all(c["winner"] in c["microseconds"] and "f_gelu" in c["microseconds"] for c in gelus)
    entries = json.loads(cache_file.read_text())["entries"]
    assert len(entries) == len(choices)


def test_tune_quantize_int8_fills_the_int8_entries(cache_file: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel_choice, "ROUNDS", 1)
    monkeypatch.setattr(kernel_choice, "MIN_ROUNDS", 1)
    monkeypatch.setattr(kernel_choice, "MAX_COPIES", 2)
    assert main(["tune", "--model", "tiny-gpt-en", "--quantize", "int8", "--rows", "1", "--json"]) == 0
    choices = json.loads(capsys.readouterr().out)["choices"]
    assert choices and all(c["dtype"].startswith("int8/") and c["winner"] in c["microseconds"] for c in choices)
    entries = json.loads(cache_file.read_text())["entries"]
    assert all(name.startswith("int8-linear") for name in entries) and len(entries) == len(choices)


def test_tune_refuses_bad_rows_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["tune", "--model", "tiny-gpt-en", "--rows", "0"])
    assert exc.value.code == 2 and "--rows" in capsys.readouterr().err


def test_numpy_is_offered_only_when_it_and_torch_run_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # A multi-threaded OpenBLAS spins after each call and slows the torch operations around it.
    names = lambda: [c.name for c in linear_kernels.candidates_for(1, torch.float32, True)]  # noqa: E731
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert "numpy" not in names()
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert "numpy" not in names()
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert "numpy" in names()


def test_a_long_prompt_and_a_mid_sized_batch_keep_their_own_kernels(cache_file: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows above 64 fall in two buckets: the first call's kernel must not serve the other."""
    def rigged(weight: torch.Tensor, bias: torch.Tensor | None, rows: int) -> dict[str, float]:
        winner = "packed" if rows <= 256 else "transposed"
        return {name: (0.5 if name == winner else 1.0)
                for name in (c.name for c in linear_kernels.candidates_for(rows, weight.dtype, bias is not None))}

    monkeypatch.setattr(kernel_choice, "measure", rigged)
    built: list[str] = []
    real_build = linear_kernels.build_kernel
    monkeypatch.setattr("bigmodel.nn.fast_linear.build_kernel",
                        lambda name, w, b: built.append(name) or real_build(name, w, b))
    layer = torch.nn.Linear(16, 12)
    linear = inference_linear(layer)
    with torch.inference_mode():
        for rows in (300, 100, 300, 100):
            x = torch.randn(rows, 16)
            torch.testing.assert_close(linear(x), layer(x), atol=1e-5, rtol=1e-5)
    assert built == ["transposed", "packed"]


def test_a_model_cast_to_another_dtype_after_generating_still_generates(cache_file: Path) -> None:
    """model.to(bf16) gives the parameters new storage under the same identity: a kernel
    state kept for the old one (a oneDNN-packed copy) must not be reused."""
    from bigmodel.models.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=97, max_seq_len=64, d_model=48, n_heads=2, n_layers=2, d_ff=80,
                          bos_token_id=None, eos_token_id=None)).eval()
    prompt = torch.randint(0, 97, (1, 10))
    for layer in model.modules():
        if isinstance(layer, torch.nn.Linear):
            linear_kernels._packed_for(layer.weight).get()  # what a packed winner leaves behind
    model.generate(prompt, max_new_tokens=4, do_sample=False)
    model.to(torch.bfloat16)
    with torch.inference_mode():
        for layer in model.modules():
            if isinstance(layer, torch.nn.Linear):
                x = torch.randn(3, layer.in_features).bfloat16()
                got = linear_kernels.build_kernel("packed", layer.weight, layer.bias)(x)
                torch.testing.assert_close(got.float(), F.linear(x, layer.weight, layer.bias).float(),
                                           atol=3e-2, rtol=3e-2)
    tokens = model.generate(prompt, max_new_tokens=4, do_sample=False)
    assert tokens.shape == (1, prompt.shape[1] + 4)


def test_a_model_built_inside_inference_mode_runs_every_kernel() -> None:
    """Its weights are inference tensors (no version counter): a packed copy is made once."""
    with torch.inference_mode():
        layer = torch.nn.Linear(16, 12)
        x = torch.randn(3, 16)
        for candidate in linear_kernels.candidates_for(3, torch.float32, True):
            got = linear_kernels.build_kernel(candidate.name, layer.weight, layer.bias)(x)
            torch.testing.assert_close(got, F.linear(x, layer.weight, layer.bias), atol=1e-5, rtol=1e-5)


def test_the_lm_head_is_bound_once_per_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Binding a linear looks its kernel up in the kernel cache: the output layer is bound once
    per generation (kept with its KV cache, like the blocks), not once per token."""
    from bigmodel.models import gpt as gpt_module
    from bigmodel.models.gpt import GPT, GPTConfig

    model = GPT(GPTConfig(vocab_size=97, max_seq_len=64, d_model=48, n_heads=2, n_layers=2, d_ff=80,
                          bos_token_id=None, eos_token_id=None)).eval()
    bound: list[torch.nn.Module] = []
    real = gpt_module.inference_linear
    monkeypatch.setattr(gpt_module, "inference_linear", lambda m: bound.append(m) or real(m))
    model.generate(torch.randint(0, 97, (1, 5)), max_new_tokens=10, do_sample=False)
    assert bound.count(model.lm_head) == 1
