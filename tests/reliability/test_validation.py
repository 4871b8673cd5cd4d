"""The shared validation layer (bigmodel/validation.py) and everything that goes through it.

Each number a user can give is refused outside its range with one line that names it and the
range: model configs (config.json, recipe overrides), the training recipe, decoding options,
request bodies. Values at the edges of the ranges are accepted.
"""

from __future__ import annotations

import json
import math
import shutil
import threading
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from bigmodel import validation as v
from bigmodel.decoding.options import parse_options
from bigmodel.errors import BigModelError
from bigmodel.hub import load
from bigmodel.models.bert import BertConfig
from bigmodel.models.gpt import GPTConfig
from bigmodel.models.resnet import ResNetConfig
from bigmodel.models.transformer import TransformerConfig
from bigmodel.training.config import load_config

torch.set_num_threads(1)

TINY_GPT = Path(__file__).resolve().parents[2] / "src/bigmodel/assets/models/tiny-gpt-en"


# -- the checkers --------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), "1", None, True])
def test_a_number_must_be_finite_and_a_number(bad) -> None:
    with pytest.raises(BigModelError, match=r"^--x must be a finite number"):
        v.number(bad, "--x")


def test_ranges_say_which_ends_are_open() -> None:
    with pytest.raises(BigModelError, match=r"--b must be a number in \[0, 1\), got 1"):
        v.number(1, "--b", low=0, high=1, high_open=True)
    with pytest.raises(BigModelError, match=r"must be a finite number > 0, got 0"):
        v.positive(0, "--p")
    assert v.number(0.0, "--b", low=0, high=1, high_open=True) == 0.0
    assert v.non_negative(0, "--n") == 0


def test_seeds_are_what_torch_generators_take() -> None:
    for ok in (v.SEED_MIN, 0, v.SEED_MAX):
        torch.Generator().manual_seed(v.seed(ok))
    for bad in (v.SEED_MIN - 1, v.SEED_MAX + 1, 2**80, 1.0, "1"):
        with pytest.raises(BigModelError, match="seed must be an integer in"):
            v.seed(bad)
    with pytest.raises(BigModelError, match=r"\[0, 4294967295\]"):
        v.global_seed(-1)


def test_a_tiny_temperature_is_greedy_and_a_long_value_is_cut_in_the_message() -> None:
    assert v.temperature(1e-45) == 0.0 and v.temperature(0.7) == 0.7
    with pytest.raises(BigModelError) as info:
        v.integer("x" * 5000, "--n")
    assert len(str(info.value)) < 120


# -- model configs ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("cls", "changes", "named"), [
    (GPTConfig, {"n_heads": 0}, "n_heads"),
    (GPTConfig, {"d_model": -128}, "d_model"),
    (GPTConfig, {"n_layers": -4}, "n_layers"),
    (GPTConfig, {"vocab_size": 0}, "vocab_size"),
    (GPTConfig, {"d_model": 100, "n_heads": 3}, "divisible"),
    (GPTConfig, {"dropout": 1.5}, "dropout"),
    (GPTConfig, {"layer_norm_eps": 0.0}, "layer_norm_eps"),
    (BertConfig, {"d_ff": 0}, "d_ff"),
    (BertConfig, {"type_vocab_size": -1}, "type_vocab_size"),
    (TransformerConfig, {"n_encoder_layers": 0}, "n_encoder_layers"),
    (TransformerConfig, {"max_seq_len": -1}, "max_seq_len"),
    (ResNetConfig, {"depths": (2, 0, 2, 2), "block": "basic", "hidden_sizes": (8, 16, 32, 64)}, "depths[1]"),
    (ResNetConfig, {"num_labels": 0}, "num_labels"),
])
def test_model_configs_refuse_zero_and_negative_sizes(cls, changes, named) -> None:
    with pytest.raises(BigModelError, match=named.replace("[", r"\[")):
        cls(**changes)


def test_a_config_json_with_zero_heads_is_one_error_naming_the_file(tmp_path: Path) -> None:
    folder = shutil.copytree(TINY_GPT, tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "n_head": 0}))
    with pytest.raises(BigModelError, match="config.json: n_heads must be an integer >= 1, got 0"):
        load(folder)


def test_valid_configs_still_build() -> None:
    assert GPTConfig(n_layers=1, d_model=8, n_heads=2).d_ff == 32
    assert BertConfig(classifier_dropout=None, dropout=0.0).dropout == 0.0


# -- the training recipe ---------------------------------------------------------------------------

@pytest.mark.parametrize("override", [
    "train.beta1=1", "train.beta1=-0.1", "train.beta2=2", "train.eps=0", "train.eps=-1e-8",
    "train.lr=inf", "train.lr=nan", "train.weight_decay=-0.01", "train.min_lr_ratio=-0.1",
    "train.min_lr_ratio=1.01", "train.max_grad_norm=-1", "train.max_grad_norm=inf", "train.max_minutes=-1",
    "train.max_minutes=inf", "train.peak_gflops=-5", "train.seed=-3", f"train.seed={2**32}",
])
def test_recipe_numbers_out_of_range_name_their_key(override: str) -> None:
    key = override.split("=")[0]
    with pytest.raises(BigModelError, match=key.replace(".", r"\.")):
        load_config({}, [override])


def test_recipe_numbers_at_the_edges_are_fine() -> None:
    config = load_config({}, ["train.beta1=0", "train.min_lr_ratio=1", "train.max_grad_norm=0",
                              "train.weight_decay=0", "train.max_minutes=0", f"train.seed={2**32 - 1}"])
    assert config.train.max_grad_norm == 0 and config.train.seed == 2**32 - 1


# -- decoding options ------------------------------------------------------------------------------

@pytest.mark.parametrize(("option", "value"), [
    ("repetition_penalty", math.nan), ("repetition_penalty", math.inf), ("length_penalty", math.nan),
    ("length_penalty", -math.inf), ("max_time", math.nan), ("max_time", math.inf), ("seed", 2**64),
    ("seed", -(2**63) - 1),
])
def test_decoding_options_out_of_range(option: str, value: object) -> None:
    with pytest.raises(BigModelError, match=option):
        parse_options({option: value, "do_sample": True})


def test_a_tiny_temperature_decodes_greedily_instead_of_crashing() -> None:
    import bigmodel as bm

    model = bm.load("tiny-gpt-en")
    tok = bm.load_tokenizer("tiny-gpt-en")
    ids = torch.tensor([tok.encode("And God said")])
    tiny = model.generate(ids, max_new_tokens=5, do_sample=True, temperature=1e-45, seed=1)
    greedy = model.generate(ids, max_new_tokens=5, do_sample=False)
    assert tiny.tolist() == greedy.tolist()


# -- request bodies --------------------------------------------------------------------------------

def test_request_seeds_beyond_torch_and_empty_text_lists_are_refused() -> None:
    from bigmodel.serve.schemas import ClassifyRequest, CompletionRequest

    with pytest.raises(ValidationError):
        CompletionRequest.model_validate({"model": "m", "prompt": "x", "seed": 2**64})
    with pytest.raises(ValidationError):
        CompletionRequest.model_validate({"model": "m", "prompt": "x", "seed": -(2**63) - 1})
    assert CompletionRequest.model_validate({"model": "m", "prompt": "x", "seed": 2**64 - 1}).seed == 2**64 - 1
    with pytest.raises(ValidationError, match="at least one text"):
        ClassifyRequest.model_validate({"text": []})


def test_a_finished_sequence_stops_counting_before_its_client_hears_of_it() -> None:
    """A strictly sequential client never sees a 503: the room of a finished request is free
    the moment its Done event leaves the engine, even if the loop has not tidied up yet."""
    import bigmodel as bm
    from bigmodel.serve.batching import BatchEngine, Done, QueueFull, SamplingParams

    model = bm.load("tiny-gpt-en")
    tok = bm.load_tokenizer("tiny-gpt-en")
    engine = BatchEngine(model, tok, max_batch_size=4, max_concurrency=4)
    prompt = tok.encode("And God said")
    refusals: list[str] = []
    finished = threading.Event()
    rounds = {"left": 6}

    def sink(event) -> None:
        # Runs on the engine thread, inside the step that finished the slot: the harshest moment.
        if isinstance(event, Done):
            rounds["left"] -= 1
            if rounds["left"] <= 0:
                finished.set()
                return
            try:
                engine.submit([(prompt, SamplingParams(max_new_tokens=2, temperature=0))] * 4, sink_all)
            except QueueFull as exc:
                refusals.append(str(exc))
                finished.set()

    done_in_round = {"n": 0}

    def sink_all(event) -> None:
        if isinstance(event, Done):
            done_in_round["n"] += 1
            if done_in_round["n"] % 4 == 0:
                sink(event)

    try:
        engine.submit([(prompt, SamplingParams(max_new_tokens=2, temperature=0))] * 4, sink_all)
        assert finished.wait(60)
    finally:
        engine.close()
    assert refusals == []
