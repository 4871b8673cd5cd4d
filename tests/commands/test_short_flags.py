"""Short flags: -m (--model), -n (--max-new-tokens), -o (--out), -k (--top-k)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bigmodel.cli import build_parser


@pytest.mark.parametrize("argv, expected", [
    (["generate", "hi", "-m", "tiny-gpt-zh", "-n", "7", "-k", "3"], {"model": "tiny-gpt-zh", "max_new_tokens": 7,
                                                                    "top_k": 3}),
    (["chat", "-m", "tiny-gpt-zh", "-n", "9", "-k", "2"], {"model": "tiny-gpt-zh", "max_new_tokens": 9, "top_k": 2}),
    (["fill-mask", "a [MASK] .", "-m", "tiny-bert-en", "-k", "2"], {"model": "tiny-bert-en", "top_k": 2}),
    (["embed", "a cat", "-m", "tiny-bert-en"], {"model": "tiny-bert-en"}),
    (["classify", "good", "-m", "runs/x", "-k", "1"], {"model": "runs/x", "top_k": 1}),
    (["classify-image", "digit.png", "-m", "tiny-resnet-digits", "-k", "2"], {"model": "tiny-resnet-digits",
                                                                              "top_k": 2}),
    (["answer", "--question", "who?", "-m", "runs/qa", "--context", "Ann.", "-k", "2"], {"model": "runs/qa", "top_k": 2}),
    (["tag", "Ann went home.", "-m", "runs/ner"], {"model": "runs/ner"}),
    (["eval", "-m", "runs/x", "--data", "d.csv"], {"model": "runs/x"}),
    (["serve", "-m", "tiny-gpt-en", "-m", "tiny-bert-en"], {"model": ["tiny-gpt-en", "tiny-bert-en"]}),
])
def test_short_flags_parse_as_the_long_ones(argv: list[str], expected: dict) -> None:
    args = build_parser().parse_args(argv)
    assert {key: getattr(args, key) for key in expected} == expected


def test_short_out_flags(tmp_path: Path) -> None:
    parser = build_parser()
    out = str(tmp_path / "o")
    assert parser.parse_args(["prepare", "a.txt", "--tokenizer", "gpt2", "-o", out]).out == out
    assert parser.parse_args(["tokenizer", "train", "a.txt", "--kind", "bpe", "--vocab-size", "300",
                              "-o", out]).out == out
    png = str(tmp_path / "a.png")
    assert parser.parse_args(["explain", "hi", "-m", "tiny-gpt-en", "-o", png]).out == png


def test_every_verb_that_runs_a_model_takes_device() -> None:
    parser = build_parser()
    for argv in (["generate", "hi"], ["chat"], ["fill-mask", "a [MASK]"], ["embed", "a"],
                 ["classify", "a", "-m", "x"], ["classify-image", "a.png", "-m", "x"], ["tag", "a", "-m", "x"],
                 ["eval", "-m", "x", "--data", "d"], ["serve", "-m", "x"]):
        assert parser.parse_args([*argv, "--device", "cpu"]).device == "cpu"
        assert parser.parse_args([*argv, "--device", "auto"]).device == "auto"
