"""The shipped tiny GPTs do not loop on their own decoding defaults (generation_config.json).

Loops as in benchmarks/decoding_loops.py: a continuation repeats a 4-gram of its units
(words; each Chinese character one unit). Greedy decoding loops on most prompts; the shipped
defaults measured 0.01 (en) and 0.00 (zh) of 100 continuations there.
"""

from __future__ import annotations

import pytest

import bigmodel as bm
from bigmodel.metrics import repeats_ngram, text_units

PROMPTS = {
    "tiny-gpt-en": ["In the beginning God created", "And the LORD said unto Moses,", "The LORD is my shepherd;",
                    "Thus saith the LORD of hosts,", "And the children of Israel"],
    "tiny-gpt-zh": ["人工智能是一种", "卫生间有异味", "这个手机太好用了", "酒店的服务", "总的来说"],
}


@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_default_continuations_do_not_loop(name: str) -> None:
    assert bm.load(name).generation_config.do_sample is True
    texts = [t for seed in (0, 1) for t in bm.generate(PROMPTS[name], model=name, max_new_tokens=60, seed=seed)]
    loops = sum(repeats_ngram(text_units(t), 4) for t in texts)
    assert loops <= 2, texts  # of 10


def test_units_and_repeats() -> None:
    assert text_units("卫生间有异味，And I'll go!") == ["卫", "生", "间", "有", "异", "味", "and", "i'll", "go"]
    assert repeats_ngram(text_units("卫生间有异味，卫生间有异味"), 4)
    assert not repeats_ngram(text_units("and the LORD said and the LORD spake"), 4)
