"""generation_config.json: read on load, used for every option the caller leaves out, written
on save in the format transformers reads; do_sample=False / --greedy stays the plain argmax."""

from __future__ import annotations

import copy
import json

import pytest
import torch

import bigmodel as bm
from bigmodel.cli import main
from bigmodel.decoding.model_defaults import GenerationConfig
from bigmodel.decoding.options import parse_options
from bigmodel.errors import BigModelError
from bigmodel.tasks.generation import generate, generate_detailed

RECIPE = {"do_sample": True, "temperature": 1.5, "top_k": 5, "top_p": 0.95, "repetition_penalty": 1.5,
          "max_new_tokens": 9, "transformers_version": "5.0.0"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A random 1-layer GPT with the shipped English tokenizer and a sampling recipe."""
    torch.manual_seed(0)
    tok = bm.load_tokenizer("tiny-gpt-en")
    model = bm.create("gpt2", n_layers=1, d_model=16, n_heads=2, max_seq_len=64, vocab_size=len(tok))
    path = tmp_path_factory.mktemp("gpt-with-defaults")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    (path / "generation_config.json").write_text(json.dumps(RECIPE))
    return str(path)


def test_load_reads_the_file(folder) -> None:
    config = bm.load(folder).generation_config
    assert config.top_k == 5 and config.do_sample is True and config.max_new_tokens == 9
    assert config.extra == {"transformers_version": "5.0.0"}


def test_defaults_change_the_output_and_set_its_length(folder) -> None:
    sampled = [generate_detailed("In the beginning", model=folder, seed=s)[0] for s in range(3)]
    greedy = generate("In the beginning", model=folder, do_sample=False)
    assert all(r.completion_tokens == 9 or r.finish_reason == "stop" for r in sampled)
    assert any(r.text != greedy for r in sampled)
    assert len({r.text for r in sampled}) > 1  # it samples


def test_explicit_arguments_win(folder) -> None:
    (short,) = generate_detailed("In the beginning", model=folder, max_new_tokens=4, seed=0)
    assert short.completion_tokens == 4 or short.finish_reason == "stop"
    # top_k=1 given: the argmax of the file's penalised scores, i.e. greedy with its penalty.
    assert generate("In the beginning", model=folder, top_k=1, seed=0) == generate(
        "In the beginning", model=folder, do_sample=False, repetition_penalty=1.5, max_new_tokens=9)


def test_greedy_is_the_plain_argmax(folder) -> None:
    model = bm.load(folder)
    bare = copy.deepcopy(model)
    bare.generation_config = None
    ids = torch.tensor([[5, 17, 42]])
    expected = bare.generate(ids, do_sample=False, max_new_tokens=9)
    assert torch.equal(model.generate(ids, do_sample=False), expected)
    assert not torch.equal(model.generate(ids, seed=0), expected)  # token level honours the file too


def test_cli_greedy_flag_and_default(folder, capsys) -> None:
    assert main(["generate", "In the beginning", "--model", folder, "--greedy", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["text"] == generate("In the beginning", model=folder, do_sample=False)
    assert main(["generate", "In the beginning", "--model", folder, "--seed", "1", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["text"] == generate("In the beginning", model=folder, seed=1)
    assert row["completion_tokens"] == 9 or row["finish_reason"] == "stop"


def test_beam_search_leaves_the_sampling_recipe_out() -> None:
    config = GenerationConfig.from_dict(RECIPE)
    opts = parse_options({"num_beams": 3}, defaults=config)
    assert not opts.do_sample and opts.repetition_penalty is None and opts.max_new_tokens == 9
    assert parse_options({}, defaults=config).top_k == 5


def test_save_writes_what_transformers_reads(folder, tmp_path) -> None:
    transformers = pytest.importorskip("transformers")
    bm.load(folder).save_pretrained(tmp_path)
    hf = transformers.GenerationConfig.from_pretrained(tmp_path)
    assert (hf.do_sample, hf.top_k, hf.top_p, hf.repetition_penalty, hf.max_new_tokens) == (True, 5, 0.95, 1.5, 9)
    assert bm.load(tmp_path).generation_config == bm.load(folder).generation_config


def test_saving_a_model_without_one_removes_a_stale_file(folder, tmp_path) -> None:
    (tmp_path / "generation_config.json").write_text(json.dumps(RECIPE))
    model = bm.load(folder)
    model.generation_config = None
    model.save_pretrained(tmp_path)
    assert not (tmp_path / "generation_config.json").exists()


def test_a_bad_value_in_the_file_is_one_error(tmp_path) -> None:
    (tmp_path / "generation_config.json").write_text(json.dumps({"top_p": 2}))
    with pytest.raises(BigModelError, match=r"generation_config.json: top_p must be"):
        GenerationConfig.from_pretrained(tmp_path)


def test_min_new_tokens_matches_transformers(tiny_gpt2) -> None:
    hf, model = tiny_gpt2
    ids = torch.tensor([[5, 17, 42, 7]])
    free = model.generate(ids, do_sample=False, max_new_tokens=8, eos_token_id=None)
    new = free[0, ids.shape[1]:].tolist()
    eos = new[0]  # as EOS, the first new token ends the text at once unless held back
    kwargs = dict(do_sample=False, max_new_tokens=8, eos_token_id=eos, pad_token_id=eos)
    early = model.generate(ids, **kwargs)
    held = model.generate(ids, min_new_tokens=5, **kwargs)
    assert early.shape[1] == ids.shape[1] + 1
    assert eos not in held[0, ids.shape[1]: ids.shape[1] + 5].tolist()
    with torch.no_grad():
        expected = hf.generate(ids, attention_mask=torch.ones_like(ids), min_new_tokens=5, **kwargs)
    assert held.tolist() == expected.tolist()


def test_server_slot_holds_eos_back() -> None:
    from bigmodel.serve.batching import SamplingParams, Slot

    slot = Slot([1, 2, 3], SamplingParams(temperature=0.0, min_new_tokens=2), lambda event: None,
                bm.load_tokenizer("tiny-gpt-en"), [0])
    logits = torch.zeros(10)
    logits[0] = 5.0
    assert slot.choose(logits) != 0
    slot.tokens = [4, 4]
    assert slot.choose(logits) == 0
