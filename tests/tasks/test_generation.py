"""Text-level generation: prompts in, continuations out; the CLI verb on top of it."""

from __future__ import annotations

import json

import pytest
import torch

import bigmodel as bm
from bigmodel.cli import main
from bigmodel.decoding import generate as generate_ids
from bigmodel.errors import BigModelError
from bigmodel.tasks.generation import generate, generate_detailed, stream
from bigmodel.tokenization import load_tokenizer


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory):
    """A random 1-layer GPT-2 with the real GPT-2 tokenizer, saved as a model folder."""
    torch.manual_seed(0)
    model = bm.create("gpt2", n_layers=1, d_model=16, n_heads=2, max_seq_len=96)
    folder = tmp_path_factory.mktemp("tiny-gpt-text")
    model.save_pretrained(folder)
    load_tokenizer("gpt2").save_pretrained(folder)
    return str(folder)


def test_text_equals_token_level_greedy(tiny_folder) -> None:
    tok = load_tokenizer(tiny_folder)
    model = bm.load(tiny_folder)
    ids = torch.tensor([tok.encode("Hello there")])
    expected = tok.decode(generate_ids(model, ids, max_new_tokens=12)[0, ids.shape[1]:], skip_special_tokens=True)
    assert generate("Hello there", model=tiny_folder, max_new_tokens=12) == expected


def test_batch_of_prompts_matches_one_by_one(tiny_folder) -> None:
    prompts = ["Hi", "A much longer prompt than the first", "人工智能是一种"]
    batch = generate(prompts, model=tiny_folder, max_new_tokens=8)
    assert batch == [generate(p, model=tiny_folder, max_new_tokens=8) for p in prompts]


def test_results_carry_counts_and_finish_reason(tiny_folder) -> None:
    (result,) = generate_detailed("Hello", model=tiny_folder, max_new_tokens=7)
    assert result.prompt_tokens == 1 and result.completion_tokens == 7 and result.finish_reason == "length"


def test_stop_string_cuts_text_and_reports_stop(tiny_folder) -> None:
    free = generate("Hello", model=tiny_folder, max_new_tokens=30, do_sample=True, seed=1)
    stop = free[5:8]
    (result,) = generate_detailed("Hello", model=tiny_folder, max_new_tokens=30, do_sample=True, seed=1, stop=stop)
    assert result.text == free[: free.index(stop)]
    assert result.finish_reason == "stop"
    streamed = "".join(stream("Hello", model=tiny_folder, max_new_tokens=30, do_sample=True, seed=1, stop=stop))
    assert streamed == result.text


def test_stream_concatenates_to_generate_for_chinese(tiny_folder) -> None:
    kw = dict(model=tiny_folder, max_new_tokens=40, top_p=0.95, seed=3)
    full = generate("人工智能是一种", **kw)
    deltas = list(stream("人工智能是一种", **kw))
    assert "".join(deltas) == full and len(deltas) > 1


def test_int8_and_bf16_run(tiny_folder) -> None:
    assert isinstance(generate("Hi", model=tiny_folder, max_new_tokens=4, quantize="int8"), str)
    assert isinstance(generate("Hi", model=tiny_folder, max_new_tokens=4, dtype="bf16"), str)
    with pytest.raises(BigModelError, match="quantize"):
        generate("Hi", model=tiny_folder, quantize="int4")


def test_cli_generate_json(tiny_folder, capsys) -> None:
    assert main(["generate", "Hello", "Hi there", "--model", tiny_folder, "--max-new-tokens", "5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["prompt"] for r in rows] == ["Hello", "Hi there"]
    assert rows[0]["completion_tokens"] == 5 and rows[0]["finish_reason"] == "length"


def test_cli_generate_stream(tiny_folder, capsys) -> None:
    assert main(["generate", "Hello", "--model", tiny_folder, "--max-new-tokens", "6", "--stream"]) == 0
    out = capsys.readouterr().out
    assert out == generate("Hello", model=tiny_folder, max_new_tokens=6) + "\n"


@pytest.mark.parametrize("argv,words", [
    (["--top-p", "1.5"], "top_p"),
    (["--temperature", "-1"], "temperature"),
    (["--num-beams", "0"], "num_beams"),
    (["--max-new-tokens", "500"], "context"),
])
def test_cli_bad_input_is_one_line(tiny_folder, capsys, argv, words) -> None:
    assert main(["generate", "Hello", "--model", tiny_folder, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and "Traceback" not in err and err.count("\n") == 1


def test_bad_words_never_appear(tiny_folder) -> None:
    free = generate("Hello", model=tiny_folder, max_new_tokens=20)
    word = free.split()[0] if free.split() else free[:2]
    assert word not in generate("Hello", model=tiny_folder, max_new_tokens=20, bad_words=[word]).split()
