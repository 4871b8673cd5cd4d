"""`bigmodel generate --model <seq2seq folder>`: the text model.generate writes, not an echo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import bigmodel as bm
from bigmodel.cli import main
from bigmodel.tokenization import load_tokenizer

SOURCE = "Monday, March 23, 1987"


def model_generate_text(folder: Path, source: str, **kwargs: object) -> str:
    model, tok = bm.load(folder).eval(), load_tokenizer(folder)
    out = model.generate(torch.tensor([tok.encode(source, add_special_tokens=False)]), **kwargs)
    return tok.decode(out[0], skip_special_tokens=True)


@pytest.mark.parametrize("beams", [1, 4])
def test_generate_json_is_model_generate_decoded(tiny_seq2seq: Path, beams: int,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["generate", SOURCE, "--model", str(tiny_seq2seq), "--max-new-tokens", "12", "--num-beams", str(beams)]
    assert main([*argv, "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    expected = model_generate_text(tiny_seq2seq, SOURCE, max_new_tokens=12, num_beams=beams)
    assert row["text"] == expected and expected
    assert row["completion_tokens"] > 0 and row["prompt_tokens"] == len(SOURCE)
    assert main(argv) == 0
    assert capsys.readouterr().out == expected + "\n"  # the output alone: it does not continue the source


def test_stream_prints_the_same_text(tiny_seq2seq: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", SOURCE, "--model", str(tiny_seq2seq), "--max-new-tokens", "12", "--stream"]) == 0
    assert capsys.readouterr().out == model_generate_text(tiny_seq2seq, SOURCE, max_new_tokens=12) + "\n"


@pytest.mark.parametrize(("extra", "words"), [
    (["--max-new-tokens", "60"], "max_new_tokens=60 exceeds the decoder's context of 48 tokens"),
    (["--max-new-tokens", "8", "--num-return-sequences", "2"], "num_return_sequences > 1 needs"),
])
def test_mistakes_are_one_line_and_exit_2(tiny_seq2seq: Path, capsys: pytest.CaptureFixture[str],
                                          extra: list[str], words: str) -> None:
    assert main(["generate", SOURCE, "--model", str(tiny_seq2seq), *extra]) == 2
    captured = capsys.readouterr()
    assert words in captured.err and captured.err.count("\n") == 1 and captured.err.startswith("error: ")
    assert captured.out == ""
