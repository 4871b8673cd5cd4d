"""The generated dates task, its character tokenizer, and the seq2seq collator."""

from __future__ import annotations

import datetime as dt
import random

import pytest
import torch

from bigmodel.data.dates import (
    DATE_ALPHABET,
    FORMATS,
    char_tokenizer,
    is_held_out,
    make_pairs,
    ordinal_words,
    save_char_tokenizer,
    spell_date,
)
from bigmodel.data.seq2seq import IGNORE_INDEX, Seq2SeqDataset, seq2seq_collator
from bigmodel.errors import BigModelError
from bigmodel.tokenization import load_tokenizer


def test_each_format_spells_the_date() -> None:
    d = dt.date(1987, 3, 23)
    spelled = {name: spell(d) for name, spell in FORMATS.items()}
    assert spelled["words"] == "the twenty-third of March, 1987"
    assert spelled["us"] == "March 23, 1987"
    assert spelled["uk_abbrev"] == "23 Mar 1987"
    assert spelled["weekday"] == "Monday, March 23, 1987"
    assert spelled["us_ordinal"] == "March 23rd, 1987"
    assert [ordinal_words(n) for n in (1, 2, 12, 20, 21, 30, 31)] == [
        "first", "second", "twelfth", "twentieth", "twenty-first", "thirtieth", "thirty-first"]


def test_pairs_are_seeded_and_correct() -> None:
    pairs = make_pairs(200, seed=3)
    assert pairs == make_pairs(200, seed=3)
    assert pairs != make_pairs(200, seed=4)
    for source, target in pairs:
        d = dt.date.fromisoformat(target)
        assert str(d.year) in source
        assert set(source) <= set(DATE_ALPHABET)


def test_held_out_dates_never_appear_in_training() -> None:
    train = {t for _, t in make_pairs(2000, seed=0)}
    test = {t for _, t in make_pairs(300, split="test")}
    assert train and test and not train & test
    assert all(is_held_out(dt.date.fromisoformat(t)) for t in test)


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(BigModelError, match="split"):
        make_pairs(3, split="dev")
    with pytest.raises(BigModelError, match="unknown date format 'iso'"):
        spell_date(dt.date(2000, 1, 1), random.Random(0), formats=("iso",))


def test_char_tokenizer_round_trips_through_files(tmp_path) -> None:
    tokenizer = char_tokenizer()
    ids = tokenizer.encode("Monday, March 23, 1987")
    assert len(ids) == len("Monday, March 23, 1987")
    assert tokenizer.decode(ids) == "Monday, March 23, 1987"
    assert (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    save_char_tokenizer(tmp_path / "tok")
    loaded = load_tokenizer(tmp_path / "tok")
    assert loaded.encode("23 Mar 1987") == tokenizer.encode("23 Mar 1987")
    assert loaded.decode([1, *ids, 2, 0], skip_special_tokens=True) == "Monday, March 23, 1987"
    assert loaded.eos_token_id == 2


def test_collator_builds_teacher_forcing_batches() -> None:
    tokenizer = char_tokenizer()
    data = Seq2SeqDataset([("23 Mar 1987", "1987-03-23"), ("1 May 2001", "2001-5")], tokenizer)
    batch = seq2seq_collator(tokenizer)([data[0], data[1]])
    bos, eos, pad = 1, 2, 0
    target = tokenizer.encode("1987-03-23")
    assert batch["decoder_input_ids"][0].tolist() == [bos, *target]
    assert batch["labels"][0].tolist() == [*target, eos]
    short = tokenizer.encode("2001-5")
    assert batch["labels"][1].tolist() == [*short, eos] + [IGNORE_INDEX] * 4
    # What the decoder reads after EOS is never scored (labels -100 there), whatever it is.
    assert batch["decoder_input_ids"][1, : len(short) + 1].tolist() == [bos, *short]
    assert batch["attention_mask"][1].tolist() == [1] * len("1 May 2001") + [0]
    assert batch["input_ids"][1, -1].item() == pad
    assert all(v.dtype == torch.long for v in batch.values())


def test_collator_needs_bos_eos_and_pad() -> None:
    from bigmodel.tokenization import load_tokenizer as load

    with pytest.raises(BigModelError, match="needs a pad token"):
        seq2seq_collator(load("gpt2"))
