"""One builder for fine-tuning heads: the pretrained body's weights arrive, a head that does not
fit the new label set starts afresh, and a body of the wrong family is one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import bigmodel as bm
from bigmodel.errors import BigModelError
from bigmodel.training.classification import build_classifier
from bigmodel.training.pretrained_finetuning import build_head_model, read_pretrained
from bigmodel.training.token_classification import build_tagger

LABELS = {0: "neg", 1: "pos", 2: "mixed"}


@pytest.fixture(scope="module")
def bert_body(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = bm.create("bert-base-uncased", n_layers=1, d_model=16, n_heads=2, d_ff=32, vocab_size=60,
                      max_seq_len=32)
    folder = tmp_path_factory.mktemp("bert-body")
    model.save_pretrained(folder)
    return folder


def _embeddings(model: torch.nn.Module) -> torch.Tensor:
    return next(v for k, v in model.state_dict().items() if k.endswith("token.weight"))


def test_every_head_gets_the_pretrained_body(bert_body: Path) -> None:
    body = _embeddings(bm.load(bert_body))
    heads = [build_classifier(str(bert_body), "", LABELS, None), build_tagger(str(bert_body), LABELS),
             build_head_model(read_pretrained(str(bert_body), "BertForQuestionAnswering", "question answering"),
                              "BertForQuestionAnswering")]
    for model in heads:
        assert model.training
        assert torch.equal(_embeddings(model), body)
    assert heads[0].config.num_labels == 3 and heads[1].config.id2label == LABELS


def test_a_saved_head_is_kept_only_when_the_label_set_fits(bert_body: Path, tmp_path: Path) -> None:
    first = build_classifier(str(bert_body), "", LABELS, None)
    first.save_pretrained(tmp_path)
    head = first.state_dict()["classifier.weight"]
    again = build_classifier(str(tmp_path), "", LABELS, None)
    assert torch.equal(again.state_dict()["classifier.weight"], head)
    fewer = build_classifier(str(tmp_path), "", {0: "neg", 1: "pos"}, None)
    assert fewer.state_dict()["classifier.weight"].shape[0] == 2
    assert torch.equal(_embeddings(fewer), _embeddings(first))


def test_a_body_of_another_family_is_one_error(tmp_path: Path) -> None:
    bm.create("gpt2", n_layers=1, d_model=16, n_heads=2, vocab_size=60, max_seq_len=32).save_pretrained(tmp_path)
    with pytest.raises(BigModelError, match=r"model.pretrained .* is a gpt model; token classification"):
        build_tagger(str(tmp_path), LABELS)
    with pytest.raises(BigModelError, match="not a text classifier"):
        build_classifier(str(tmp_path), "BertForMaskedLM", LABELS, 0)
