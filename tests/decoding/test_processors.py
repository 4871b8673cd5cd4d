"""Each logits processor equals the transformers processor of the same name on random logits."""

from __future__ import annotations

import pytest
import torch

from bigmodel.decoding import processors as ours

tp = pytest.importorskip("transformers.generation.logits_process")


@pytest.fixture
def case():
    g = torch.Generator().manual_seed(5)
    input_ids = torch.randint(0, 50, (4, 12), generator=g)
    input_ids[0, -3:] = input_ids[0, 2:5]  # a repeated trigram for the n-gram rule
    scores = torch.randn(4, 50, generator=g) * 3
    return input_ids, scores


PAIRS = [
    (ours.TemperatureLogitsWarper(0.7), lambda: tp.TemperatureLogitsWarper(0.7)),
    (ours.TopKLogitsWarper(5), lambda: tp.TopKLogitsWarper(5)),
    (ours.TopKLogitsWarper(3, min_tokens_to_keep=7), lambda: tp.TopKLogitsWarper(3, min_tokens_to_keep=7)),
    (ours.TopPLogitsWarper(0.8), lambda: tp.TopPLogitsWarper(0.8)),
    (ours.TopPLogitsWarper(0.05, min_tokens_to_keep=3), lambda: tp.TopPLogitsWarper(0.05, min_tokens_to_keep=3)),
    (ours.MinPLogitsWarper(0.1), lambda: tp.MinPLogitsWarper(0.1)),
    (ours.MinPLogitsWarper(0.9, min_tokens_to_keep=2), lambda: tp.MinPLogitsWarper(0.9, min_tokens_to_keep=2)),
    (ours.RepetitionPenaltyLogitsProcessor(1.3), lambda: tp.RepetitionPenaltyLogitsProcessor(1.3)),
    (ours.RepetitionPenaltyLogitsProcessor(0.8, torch.tensor([0, 3, 5, 11])),
     lambda: tp.RepetitionPenaltyLogitsProcessor(0.8, prompt_ignore_length=torch.tensor([0, 3, 5, 11]))),
    (ours.NoRepeatNGramLogitsProcessor(2), lambda: tp.NoRepeatNGramLogitsProcessor(2)),
    (ours.NoRepeatNGramLogitsProcessor(3), lambda: tp.NoRepeatNGramLogitsProcessor(3)),
    (ours.NoBadWordsLogitsProcessor([[7], [3, 9], [1, 2, 4], [49]], eos_token_id=49),
     lambda: tp.NoBadWordsLogitsProcessor([[7], [3, 9], [1, 2, 4], [49]], eos_token_id=49)),
    (ours.ForcedEOSTokenLogitsProcessor(13, 4), lambda: tp.ForcedEOSTokenLogitsProcessor(13, 4)),
    (ours.ForcedEOSTokenLogitsProcessor(20, 4), lambda: tp.ForcedEOSTokenLogitsProcessor(20, 4)),
]


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: type(p[0]).__name__)
def test_processor_equals_transformers(pair, case) -> None:
    mine, theirs = pair
    input_ids, scores = case
    expected = theirs()(input_ids, scores.clone())
    got = mine(input_ids, scores.clone())
    assert torch.equal(torch.isinf(got), torch.isinf(expected))
    finite = torch.isfinite(expected)
    assert torch.allclose(got[finite], expected[finite], atol=1e-6)


def test_bad_words_ban_the_completing_token_only(case) -> None:
    input_ids, scores = case
    input_ids[1, -1] = 3
    got = ours.NoBadWordsLogitsProcessor([[3, 9]])(input_ids, scores)
    assert torch.isinf(got[1, 9]) and torch.isfinite(got[1]).sum() == 49


def test_build_processors_orders_rules_before_warpers() -> None:
    rules = ours.build_processors(do_sample=True, temperature=0.5, top_k=10, top_p=0.9, min_p=0.05,
                                  repetition_penalty=1.2, no_repeat_ngram_size=3)
    names = [type(r).__name__ for r in rules]
    assert names == ["RepetitionPenaltyLogitsProcessor", "NoRepeatNGramLogitsProcessor",
                     "TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper", "MinPLogitsWarper"]
    assert ours.build_processors(do_sample=False, temperature=0.5, top_k=10) == []
