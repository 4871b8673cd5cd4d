"""Continuous batching: shared forward passes, and the same tokens as unbatched generation."""

from __future__ import annotations

import queue
import time
from pathlib import Path

import pytest
import torch

import bigmodel as bm
from bigmodel.decoding import generate
from bigmodel.errors import BigModelError
from bigmodel.serve.batching import BatchEngine, Delta, Done, QueueFull, SamplingParams, StopText
from bigmodel.tokenization import load_tokenizer

PROMPTS = ["Hello world, this is", "The quick brown fox jumps over the lazy dog and then", "a",
           "Once upon a time"]


@pytest.fixture(scope="module")
def lm(tiny_gpt: Path):
    return bm.load(tiny_gpt).eval(), load_tokenizer(tiny_gpt)


class Collector:
    """Events of several requests, keyed by request number."""

    def __init__(self) -> None:
        self.events: queue.Queue = queue.Queue()
        self.done: dict[int, Done] = {}
        self.text: dict[int, str] = {}

    def sink(self, key: int):
        return lambda event: self.events.put((key, event))

    def wait(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.done) < count:
            key, event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(event, Delta):
                self.text[key] = self.text.get(key, "") + event.text
            else:
                self.done[key] = event


def unbatched(model, ids: list[int], **kwargs) -> list[int]:
    out = generate(model, torch.tensor([ids]), **kwargs)
    return out[0, len(ids):].tolist()


def test_two_concurrent_requests_share_forward_passes(lm) -> None:
    model, tok = lm
    engine = BatchEngine(model, tok, max_batch_size=4, autostart=False)
    got = Collector()
    a, b = tok.encode(PROMPTS[0]), tok.encode(PROMPTS[1])
    engine.submit([(a, SamplingParams(max_new_tokens=10, temperature=0))], got.sink(0))
    engine.submit([(b, SamplingParams(max_new_tokens=10, temperature=0))], got.sink(1))
    engine.start()
    try:
        got.wait(2)
    finally:
        engine.close()
    # Alone, each would take 1 prefill + 9 decode steps: 20 forward passes for both.
    assert engine.forward_calls == 2 + 9
    assert engine.batch_sizes == {2: 9}
    assert got.done[0].token_ids == unbatched(model, a, max_new_tokens=10, do_sample=False)
    assert got.done[1].token_ids == unbatched(model, b, max_new_tokens=10, do_sample=False)


def test_requests_joining_mid_run_give_the_unbatched_tokens(lm) -> None:
    model, tok = lm
    engine = BatchEngine(model, tok, max_batch_size=3, max_concurrency=8)
    got = Collector()
    prompts = [tok.encode(p) for p in PROMPTS]
    budgets = [24, 12, 30, 7]
    try:
        engine.submit([(prompts[2], SamplingParams(max_new_tokens=budgets[2], temperature=0))], got.sink(2))
        while engine.steps < 3:  # the one-token prompt is decoding on its own ...
            time.sleep(0.001)
        # ... when a longer prompt joins (the running rows shift right) and two more queue.
        for k in (1, 0, 3):
            engine.submit([(prompts[k], SamplingParams(max_new_tokens=budgets[k], temperature=0))], got.sink(k))
        got.wait(4)
    finally:
        engine.close()
    for k, ids in enumerate(prompts):
        expected = unbatched(model, ids, max_new_tokens=budgets[k], do_sample=False)
        assert got.done[k].token_ids == expected, PROMPTS[k]
        assert got.text.get(k, "") == tok.decode(expected, skip_special_tokens=True)
        assert got.done[k].finish_reason == "length"
        assert got.done[k].completion_tokens == budgets[k]
    assert max(engine.batch_sizes) == 3  # never more rows than max_batch_size


def test_seeded_sampling_equals_generate_with_the_same_seed(lm) -> None:
    model, tok = lm
    engine = BatchEngine(model, tok, max_batch_size=4, autostart=False)
    got = Collector()
    prompts = [tok.encode(p) for p in PROMPTS[:3]]
    for k, ids in enumerate(prompts):
        params = SamplingParams(max_new_tokens=12, temperature=0.8, top_p=0.9, top_k=40, seed=100 + k)
        engine.submit([(ids, params)], got.sink(k))
    engine.start()
    try:
        got.wait(3)
    finally:
        engine.close()
    for k, ids in enumerate(prompts):
        expected = unbatched(model, ids, max_new_tokens=12, do_sample=True, temperature=0.8, top_p=0.9,
                             top_k=40, seed=100 + k)
        assert got.done[k].token_ids == expected


def test_stop_string_cuts_the_text_and_reports_stop(lm) -> None:
    model, tok = lm
    ids = tok.encode(PROMPTS[0])
    full = tok.decode(unbatched(model, ids, max_new_tokens=20, do_sample=False), skip_special_tokens=True)
    stop = full[8:11]
    engine = BatchEngine(model, tok)
    got = Collector()
    try:
        engine.submit([(ids, SamplingParams(max_new_tokens=20, temperature=0, stop=[stop]))], got.sink(0))
        got.wait(1)
    finally:
        engine.close()
    assert got.text.get(0, "") == full[: full.index(stop)]
    assert got.done[0].finish_reason == "stop"
    assert got.done[0].completion_tokens < 20


def test_stop_text_holds_back_a_possible_stop_prefix() -> None:
    cutter = StopText(["END"])
    assert cutter.feed("abc E") == ("abc ", False)  # "E" may begin "END"
    assert cutter.feed("N") == ("", False)
    assert cutter.feed("Dx") == ("", True)
    assert cutter.text == "abc "
    other = StopText(["END"])
    pieces = [other.feed(p)[0] for p in ("abc E", "Nx", " y")] + [other.flush()]
    assert "".join(pieces) == "abc ENx y"


def test_a_cancelled_slot_leaves_the_batch(lm) -> None:
    model, tok = lm
    engine = BatchEngine(model, tok, max_batch_size=2)
    got = Collector()
    try:
        long_ids = tok.encode(PROMPTS[1])
        (slot,) = engine.submit([(long_ids, SamplingParams(max_new_tokens=100, temperature=0))], got.sink(0))
        while not slot.tokens:
            time.sleep(0.001)
        slot.cancel()
        deadline = time.monotonic() + 10
        while engine.running and time.monotonic() < deadline:
            time.sleep(0.005)
        assert engine.running == 0
        assert len(slot.tokens) < 100
        engine.submit([(tok.encode("a"), SamplingParams(max_new_tokens=3, temperature=0))], got.sink(1))
        got.wait(1)
        assert got.done[1].completion_tokens == 3
        assert 0 not in got.done
    finally:
        engine.close()


def test_a_full_queue_refuses_instead_of_growing(lm) -> None:
    model, tok = lm
    engine = BatchEngine(model, tok, max_batch_size=1, max_concurrency=2, autostart=False)
    ids = tok.encode("a")
    engine.submit([(ids, SamplingParams(max_new_tokens=2))] * 2, lambda e: None)
    with pytest.raises(QueueFull, match="limit 2"):
        engine.submit([(ids, SamplingParams(max_new_tokens=2))], lambda e: None)
    assert engine.queue_depth == 2


def test_a_request_longer_than_the_context_is_refused(lm) -> None:
    model, tok = lm
    engine = BatchEngine(model, tok, autostart=False)
    with pytest.raises(BigModelError, match="max_tokens=200 .* context of 128"):
        engine.submit([(tok.encode("a b c"), SamplingParams(max_new_tokens=200))], lambda e: None)


def test_a_failing_step_ends_its_requests_and_the_engine_goes_on(lm) -> None:
    model, tok = lm
    engine = BatchEngine(model, tok)
    forward = engine._forward
    calls = []

    def broken_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("simulated failure")
        return forward(*args, **kwargs)

    engine._forward = broken_once
    got = Collector()
    try:
        engine.submit([(tok.encode("a"), SamplingParams(max_new_tokens=10, temperature=0))], got.sink(0))
        got.wait(1)
        assert got.done[0].finish_reason == "error"
        engine.submit([(tok.encode("a"), SamplingParams(max_new_tokens=4, temperature=0))], got.sink(1))
        got.wait(2)
        assert got.done[1].finish_reason == "length" and got.done[1].completion_tokens == 4
    finally:
        engine.close()


def test_running_batch_left_pads_and_cuts_shared_padding(lm) -> None:
    from bigmodel.serve.batching import RunningBatch

    model, _ = lm
    batch = RunningBatch(model)
    rows = []
    for length in (3, 7, 5):
        cache = model.new_kv_cache(1, length)
        ids = torch.randint(0, 100, (1, length))
        with torch.inference_mode():
            model(ids, kv_cache=cache)
        rows.append(cache)
        batch.add(cache)
    assert batch.length == 7 and batch.pads == [4, 0, 2]
    # Row 2 (length 5) sits right-aligned: its keys are the last 5 of 7 columns.
    assert torch.equal(batch.cache.keys[0][2, :, 2:7], rows[2].keys[0][0, :, :5])
    batch.keep([0, 2])  # the longest row leaves: two columns were padding for everyone left
    assert batch.length == 5 and batch.pads == [2, 0]
    assert torch.equal(batch.cache.keys[1][0, :, 2:5], rows[0].keys[1][0, :, :3])
    mask, positions = batch.step_inputs()
    assert mask.tolist() == [[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]]
    assert positions.flatten().tolist() == [3, 5]
    batch.keep([])
    assert batch.cache is None and batch.length == 0
