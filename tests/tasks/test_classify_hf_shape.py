"""classify() keeps its dict shape; the numbers equal transformers' text-classification pipeline:
``pipe(t)`` is [{label, score}] of classify(t) and ``pipe(t, top_k=k)`` its ``probabilities``."""

from __future__ import annotations

import pytest
import torch

import bigmodel as bm
from bigmodel.models.bert import BertConfig, BertForSequenceClassification

WORDS = "the phone was good bad great awful screen battery and it is really very".split()


@pytest.fixture(scope="module")
def classifier(wordpiece_vocab):  # noqa: ANN001, ANN201 - a fixture; a Path
    folder, tok = wordpiece_vocab(WORDS, 120, "tiny-sentiment")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tok), max_seq_len=32, d_model=32, n_layers=2, n_heads=4, d_ff=64,
                        initializer_range=0.5, id2label={0: "neg", 1: "neutral", 2: "pos"})
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


def test_classify_matches_the_transformers_pipeline(classifier) -> None:  # noqa: ANN001
    transformers = pytest.importorskip("transformers")
    pipe = transformers.pipeline("text-classification", model=str(classifier), tokenizer=str(classifier),
                                 device="cpu")
    text = "the phone was really good"
    ours = bm.classify(text, classifier)
    assert isinstance(ours, dict)
    (theirs,) = pipe(text)
    assert theirs["label"] == ours["label"] and theirs["score"] == pytest.approx(ours["score"], abs=1e-5)
    top2 = bm.classify(text, classifier, top_k=2)["probabilities"]
    theirs2 = pipe(text, top_k=2)
    assert [d["label"] for d in theirs2] == list(top2)
    assert [d["score"] for d in theirs2] == pytest.approx(list(top2.values()), abs=1e-5)
