"""`bigmodel explain` end to end on a tiny saved GPT with the GPT-2 tokenizer."""

from __future__ import annotations

import json

import pytest
import torch

from bigmodel.cli import main
from bigmodel.hub import create
from bigmodel.tokenization import load_tokenizer


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-gpt")
    torch.manual_seed(0)
    create("gpt2", n_layers=2, d_model=32, n_heads=4, max_seq_len=64).save_pretrained(folder)
    load_tokenizer("gpt2").save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("kind, out, extra", [
    ("attention", "a.png", ["--layer", "1"]),
    ("attention", "a.json", []),
    ("attribution", "ig.html", ["--steps", "8", "--target", " mat"]),
    ("logit-lens", "lens.txt", []),
])
def test_explain_writes_the_output(model_dir, tmp_path, capsys, kind, out, extra):
    target = tmp_path / out
    assert main(["explain", "The cat sat on the", "--model", model_dir, "--kind", kind,
                 "--out", str(target), *extra]) == 0
    assert target.stat().st_size > 0
    assert f"wrote {target}" in capsys.readouterr().out


def test_long_text_is_cut_with_a_notice(model_dir, tmp_path, capsys):
    assert main(["explain", "word " * 100, "--model", model_dir, "--out", str(tmp_path / "a.json")]) == 0
    assert "cut to its first 64" in capsys.readouterr().out
    assert len(json.loads((tmp_path / "a.json").read_text())["tokens"]) == 64


@pytest.mark.parametrize("argv, message", [
    (["   "], "text is empty"),
    (["hi", "--out", "x.gif"], "must end in .png, .json"),
    (["hi", "--kind", "logit-lens", "--out", "x.html"], "must end in .txt"),
    (["hi", "--head", "1"], "--head needs --layer"),
])
def test_mistakes_are_one_line_errors(model_dir, tmp_path, capsys, argv, message):
    text, *rest = argv
    if "--out" not in rest:
        rest += ["--out", str(tmp_path / "x.png")]
    assert main(["explain", text, "--model", model_dir, *rest]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_unknown_model_suggests_a_preset(tmp_path, capsys):
    assert main(["explain", "hi", "--model", "gpt2-meduim", "--out", str(tmp_path / "x.png")]) == 2
    assert 'did you mean "gpt2-medium"' in capsys.readouterr().err
