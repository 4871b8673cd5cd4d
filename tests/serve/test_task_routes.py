"""POST /v1/answer and /v1/tag: the task functions' results over HTTP; bad input is a 400."""

from __future__ import annotations

import pytest
import torch

import bigmodel as bm
from bigmodel.models.bert import BertConfig, BertForQuestionAnswering, BertForTokenClassification
from bigmodel.tokenization import load_tokenizer

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from bigmodel.serve.app import create_app  # noqa: E402

CONTEXT = "In the beginning God created the heaven and the earth."
TEXT = "And Abraham went up from Egypt unto Bethel."


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    tok = load_tokenizer("tiny-bert-en")
    config = BertConfig(vocab_size=len(tok), max_seq_len=64, d_model=32, n_layers=1, n_heads=4, d_ff=64)
    qa, ner = tmp_path_factory.mktemp("tiny-qa"), tmp_path_factory.mktemp("tiny-ner")
    torch.manual_seed(0)
    BertForQuestionAnswering(config).save_pretrained(qa)
    labels = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC"}
    BertForTokenClassification(config.replace(id2label=labels, initializer_range=0.5)).save_pretrained(ner)
    tok.save_pretrained(qa)
    tok.save_pretrained(ner)
    return qa, ner


@pytest.fixture(scope="module")
def client(folders):
    qa, ner = folders
    with TestClient(create_app([str(qa), str(ner)])) as c:
        yield c


def test_answer_route_equals_bm_answer(client, folders) -> None:
    r = client.post("/v1/answer", json={"question": "Who created the heaven?", "context": CONTEXT,
                                        "model": folders[0].name, "top_k": 2})
    assert r.status_code == 200, r.text
    expected = bm.answer("Who created the heaven?", CONTEXT, model=folders[0], top_k=2)
    assert [a["answer"] for a in r.json()["result"]] == [a["answer"] for a in expected]
    assert r.json()["result"][0]["score"] == pytest.approx(expected[0]["score"], rel=1e-5)


def test_tag_route_equals_bm_tag(client, folders) -> None:
    r = client.post("/v1/tag", json={"text": TEXT, "aggregation": "simple"})
    assert r.status_code == 200, r.text
    assert r.json()["model"] == folders[1].name
    expected = bm.tag(TEXT, model=folders[1])
    assert [(e["entity_group"], e["start"], e["end"]) for e in r.json()["entities"]] == \
        [(e["entity_group"], e["start"], e["end"]) for e in expected]


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/answer", {"question": "Who?", "context": ""}, "context"),
    ("/v1/answer", {"question": "Who?", "context": "   "}, "context is empty"),
    ("/v1/answer", {"question": "", "context": CONTEXT}, "question"),
    ("/v1/answer", {"question": "Who?", "context": "\u200b"}, "no tokens"),
    ("/v1/answer", {"question": "Who?", "context": CONTEXT, "max_answer_len": 0}, "max_answer_len"),
    ("/v1/tag", {"text": ""}, "text"),
    ("/v1/tag", {"text": " \n"}, "text is empty"),
    ("/v1/tag", {"text": TEXT, "aggregation": "first"}, "aggregation"),
])
def test_bad_requests_are_400_with_a_json_error(client, path, body, field) -> None:
    r = client.post(path, json=body)
    assert r.status_code == 400, r.text
    assert field in r.json()["error"]["message"]


def test_a_model_that_cannot_do_the_task_is_named(client, folders) -> None:
    r = client.post("/v1/answer", json={"question": "Who?", "context": CONTEXT, "model": folders[1].name})
    assert r.status_code == 400
    assert "cannot do answer" in r.json()["error"]["message"]
