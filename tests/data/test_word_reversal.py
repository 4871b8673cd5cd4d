"""The KJV word-reversal pairs: real clauses, reversed, held out by hash, and the recipe that reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bigmodel.data.word_reversal import (
    is_held_out,
    kjv_clauses,
    main,
    reversal_pairs,
    write_reversal_files,
)
from bigmodel.errors import BigModelError
from bigmodel.training.seq2seq import read_pairs

ROOT = Path(__file__).resolve().parents[2]


def test_clauses_are_distinct_lowercase_words_within_the_length_bounds() -> None:
    clauses = kjv_clauses(3, 8)
    assert len(clauses) > 50000 and len(set(clauses)) == len(clauses)
    assert "and god called the light day" in clauses
    assert all(3 <= len(c.split()) <= 8 and c.replace(" ", "").isalpha() and c == c.lower() for c in clauses)
    with pytest.raises(BigModelError, match="min_words"):
        kjv_clauses(5, 2)


def test_files_hold_reversed_pairs_and_no_held_out_clause_is_trained_on(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert reversal_pairs(["in the beginning"]) == [("in the beginning", "beginning the in")]
    assert main([str(tmp_path)]) == 0
    assert "held out" in capsys.readouterr().out
    train, validation = read_pairs(tmp_path / "train.tsv"), read_pairs(tmp_path / "validation.tsv")
    assert 0.03 < len(validation) / (len(train) + len(validation)) < 0.07
    assert not {s for s, _ in train} & {s for s, _ in validation}
    assert all(is_held_out(s) for s, _ in validation)
    assert all(t.split() == s.split()[::-1] for s, t in train[:1000])
    assert write_reversal_files(tmp_path / "short", max_words=4)["train"] < len(train)


def test_recipe_reads_the_files_the_header_commands_write() -> None:
    from bigmodel.training.config import load_config

    recipe = ROOT / "configs" / "seq2seq-reverse.toml"
    config = load_config(recipe)
    header = recipe.read_text(encoding="utf-8")
    assert config.task.kind == "seq2seq"
    assert "python -m bigmodel.data.word_reversal runs/data/kjv-reverse" in header
    assert f"--out {config.data.tokenizer}" in header
    assert config.data.path == "runs/data/kjv-reverse/train.tsv"
    assert config.data.validation_path == "runs/data/kjv-reverse/validation.tsv"
