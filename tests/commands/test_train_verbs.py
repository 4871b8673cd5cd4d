"""`bigmodel tokenizer train`, `bigmodel prepare`, `bigmodel train`: one command per step."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import bigmodel as bm
from bigmodel.cli import build_parser, main

RECIPE = """
[task]
kind = "causal_lm"
[model.config]
n_layers = 1
d_model = 32
n_heads = 2
[data]
path = "{data}"
seq_len = 16
[train]
out_dir = "{out}"
max_steps = 3
batch_size = 2
warmup_steps = 1
progress = false
peak_gflops = 100.0
"""


def _corpus(path: Path) -> Path:
    rng = random.Random(0)
    words = "in the beginning was the word and the word was with god".split()
    path.write_text("\n\n".join(" ".join(rng.choice(words) for _ in range(30)) for _ in range(20)), encoding="utf-8")
    return path


def test_tokenizer_prepare_train_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = _corpus(tmp_path / "c.txt")
    assert main(["tokenizer", "train", str(text), "--kind", "bpe", "--vocab-size", "300",
                 "--out", str(tmp_path / "tok"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "bpe"
    assert main(["prepare", str(text), "--tokenizer", str(tmp_path / "tok"), "--out", str(tmp_path / "data"),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dtype"] == "uint16"
    recipe = tmp_path / "r.toml"
    recipe.write_text(RECIPE.format(data=tmp_path / "data", out=tmp_path / "run"))
    assert main(["train", str(recipe), "train.max_steps=2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["step"] == 2 and result["validation"]["loss"] > 0
    assert main(["train", str(recipe), "train.max_steps=3", "--resume"]) == 0
    assert "step 3" in capsys.readouterr().out
    assert main(["train", str(recipe), "--resume", "require", "train.max_steps=4"]) == 0
    assert "step 4" in capsys.readouterr().out
    assert bm.load(tmp_path / "run").config.d_model == 32


@pytest.mark.parametrize(("words", "resume", "overrides"), [
    ([], None, []),
    (["--resume"], True, []),
    (["--resume", "require"], "require", []),
    (["--resume", "{tmp}"], "{tmp}", []),
    (["--resume", "train.lr=1e-3"], True, ["train.lr=1e-3"]),
    (["--resume", "train.lr=1e-3", "train.max_steps=9"], True, ["train.lr=1e-3", "train.max_steps=9"]),
    (["--resume", "require", "train.lr=1e-3"], "require", ["train.lr=1e-3"]),
    (["--resume", "{tmp}", "train.lr=1e-3"], "{tmp}", ["train.lr=1e-3"]),
    (["train.max_steps=9", "--resume", "train.lr=1e-3"], True, ["train.max_steps=9", "train.lr=1e-3"]),
    (["--resume", "run.x=1", "train.lr=1e-3"], "run.x=1", ["train.lr=1e-3"]),  # a folder of that name
    (["--device", "cpu", "train.lr=1e-3"], None, ["train.lr=1e-3"]),
    (["train.lr=1", "--json", "train.lr=2", "--resume", "train.lr=3", "--device", "cpu", "train.lr=4"], True,
     ["train.lr=1", "train.lr=2", "train.lr=3", "train.lr=4"]),  # as typed: the last one wins
])
def test_overrides_after_resume_are_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, words: list[str],
                                              resume: object, overrides: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run.x=1").mkdir()
    words = [w.format(tmp=tmp_path) for w in words]
    args = build_parser().parse_args(["train", "r.toml", *words])
    assert args.config == "r.toml"
    assert args.resume == (resume.format(tmp=tmp_path) if isinstance(resume, str) else resume)
    assert args.overrides == overrides


def test_an_unknown_flag_after_the_overrides_is_still_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["train", "r.toml", "--json", "train.lr=1", "--lr", "2"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == "error: bigmodel: unrecognized arguments: --lr 2\n"


@pytest.mark.parametrize(("argv", "message"), [
    (["train", "{recipe}", "train.lr_rate=1"], 'unknown config key \'train.lr_rate\' (did you mean "train.lr"?)'),
    (["train", "{recipe}", "--resume"], "does not exist; run `bigmodel prepare"),
    (["train", "{tmp}/missing.toml"], "does not exist"),
    (["prepare", "{tmp}/empty.txt", "--tokenizer", "gpt2", "--out", "{tmp}/x"], "is empty"),
    (["tokenizer", "train", "{tmp}/empty.txt", "--kind", "bpe", "--vocab-size", "300", "--out", "{tmp}/t"], "empty"),
])
def test_mistakes_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          argv: list[str], message: str) -> None:
    (tmp_path / "empty.txt").write_text("\n \n")
    recipe = tmp_path / "r.toml"
    recipe.write_text(RECIPE.format(data=tmp_path / "data", out=tmp_path / "run"))
    (tmp_path / "run").mkdir()
    argv = [a.format(recipe=recipe, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
