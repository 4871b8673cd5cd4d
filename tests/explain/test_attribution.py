"""Integrated gradients: completeness, targets, outputs, errors."""

from __future__ import annotations

import json

import pytest
import torch

from bigmodel.errors import BigModelError
from bigmodel.explain import integrated_gradients, save_attribution
from bigmodel.hub import create
from bigmodel.models.bert import BertConfig, BertForSequenceClassification

TINY = dict(n_layers=2, d_model=32, n_heads=4, dropout=0.0, attn_dropout=0.0)


@pytest.fixture(scope="module")
def gpt():
    torch.manual_seed(0)
    return create("gpt2", **TINY).eval()


@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=200, d_ff=64, id2label={0: "neg", 1: "pos"}, **TINY)
    return BertForSequenceClassification(config).eval()


def _gap(attr) -> float:
    return abs(sum(attr.scores) - (attr.score - attr.baseline_score)) / abs(attr.score - attr.baseline_score)


def test_completeness_for_a_gpt_next_token(gpt):
    attr = integrated_gradients(gpt, [464, 3797, 3332, 319, 262, 2603], target=1234, steps=64)
    assert attr.target == 1234
    with torch.no_grad():
        logits = gpt(torch.tensor([attr.ids])).logits
    assert attr.score == pytest.approx(float(logits[0, -1, 1234]), abs=1e-4)
    assert _gap(attr) < 0.01


@pytest.mark.parametrize("baseline", ["zero", "pad"])
def test_completeness_for_a_classifier(classifier, baseline):
    attr = integrated_gradients(classifier, [101 % 200, 7, 8, 9, 102 % 200], target="pos", steps=64,
                                baseline=baseline, batch_size=20)
    assert attr.target == 1 and attr.target_label == "pos"
    assert _gap(attr) < 0.01


def test_more_steps_close_the_gap(gpt):
    ids = [464, 3797, 3332, 319]
    coarse = integrated_gradients(gpt, ids, target=7, steps=2)
    fine = integrated_gradients(gpt, ids, target=7, steps=64)
    assert abs(fine.delta) <= abs(coarse.delta) + 1e-6


def test_default_target_is_the_model_prediction(gpt, classifier):
    ids = [464, 3797, 3332]
    with torch.no_grad():
        predicted = int(gpt(torch.tensor([ids])).logits[0, -1].argmax())
    assert integrated_gradients(gpt, ids, steps=4).target == predicted


def test_model_is_left_as_it_was(classifier):
    classifier.train()
    integrated_gradients(classifier, [3, 4, 5], target=0, steps=2)
    assert classifier.training
    assert all(p.grad is None for p in classifier.parameters())
    classifier.eval()


def test_outputs_html_png_json(gpt, tmp_path):
    from bigmodel.tokenization import load_tokenizer

    attr = integrated_gradients(gpt, "The cat sat on the <mat>", load_tokenizer("gpt2"), target=" the", steps=8)
    page = save_attribution(attr, tmp_path / "ig.html").read_text()
    assert "&lt;" in page and "http" not in page  # escaped, self-contained
    assert save_attribution(attr, tmp_path / "ig.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads(save_attribution(attr, tmp_path / "ig.json").read_text())
    assert len(data["scores"]) == len(data["tokens"]) == len(attr.ids)


def test_bad_targets_and_inputs(gpt, classifier):
    with pytest.raises(BigModelError, match="target label 'positive'"):
        integrated_gradients(classifier, [3, 4], target="positive")
    with pytest.raises(BigModelError, match="target must be in 0..1"):
        integrated_gradients(classifier, [3, 4], target=5)
    with pytest.raises(BigModelError, match="steps"):
        integrated_gradients(gpt, [3, 4], steps=0)
    with pytest.raises(BigModelError, match="baseline"):
        integrated_gradients(gpt, [3, 4], baseline="noise")
    with pytest.raises(BigModelError, match="empty after tokenization"):
        integrated_gradients(gpt, [])


def test_completeness_for_a_gpt_classifier():
    from bigmodel.models.gpt import GPTConfig, GPTForSequenceClassification

    torch.manual_seed(0)
    model = GPTForSequenceClassification(GPTConfig(vocab_size=300, max_seq_len=32, d_model=32, n_layers=2,
                                                   n_heads=4, dropout=0.0, attn_dropout=0.0, num_labels=3)).eval()
    attr = integrated_gradients(model, [5, 6, 7, 8], target=2, steps=64)
    assert _gap(attr) < 0.01
