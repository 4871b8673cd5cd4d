"""bm.tag against transformers' token-classification pipeline on a tiny random checkpoint."""

from __future__ import annotations

import json

import pytest
import torch

import bigmodel as bm
from bigmodel.cli import main
from bigmodel.errors import BigModelError

transformers = pytest.importorskip("transformers")

LABELS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
TEXTS = [
    "And Abraham went up from Egypt unto Bethel, he and Sarah his wife.",
    "Moses and Aaron spake unto Pharaoh king of Egypt; zqxjv unbelievably!",
]


@pytest.fixture(scope="module")
def ner_folder(bert_en_folder):
    folder, vocab_size = bert_en_folder("tiny-ner")
    torch.manual_seed(7)
    config = transformers.BertConfig(vocab_size=vocab_size, max_position_embeddings=64, hidden_size=32,
                                     num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                     id2label=LABELS)
    model = transformers.BertForTokenClassification(config).eval()
    with torch.no_grad():  # a bias towards entity labels, so that groups form
        model.classifier.bias.copy_(torch.tensor([0.0, 0.6, 0.6, 0.6, 0.6]))
    model.save_pretrained(folder)
    return folder


def _close(ours: list[dict], theirs: list[dict], name: str) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert {k: v for k, v in a.items() if k != "score"} == \
            {k: (int(v) if k in ("start", "end", "index") else v) for k, v in b.items() if k != "score"}
        assert abs(a["score"] - float(b["score"])) < 1e-5
        assert set(a) == set(b) and name in a


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize(("ours_name", "theirs_name", "key"),
                         [("simple", "simple", "entity_group"), ("none", "none", "entity")])
def test_tag_equals_transformers_pipeline(ner_folder, text, ours_name, theirs_name, key) -> None:
    pipe = transformers.pipeline("token-classification", model=str(ner_folder), tokenizer=str(ner_folder),
                                 aggregation_strategy=theirs_name, device="cpu")
    theirs = pipe(text)
    ours = bm.tag(text, model=ner_folder, aggregation=ours_name)
    assert theirs, "the fixture should predict some entities"
    _close(ours, theirs, key)
    assert all(0 <= e["start"] < e["end"] <= len(text) for e in ours)


def test_a_list_of_texts_gives_a_list_of_lists(ner_folder) -> None:
    many = bm.tag(TEXTS, model=ner_folder)
    assert many == [bm.tag(t, model=ner_folder) for t in TEXTS]


@pytest.mark.parametrize(("text", "kwargs", "message"), [
    ("", {}, "text is empty"),
    ("  \t", {}, "text is empty"),
    (["fine", ""], {}, "text 1 is empty"),
    ("Abraham", {"aggregation": "first"}, "aggregation must be one of simple, none"),
    (3, {}, "text must be a string"),
])
def test_bad_input_is_one_clear_error(ner_folder, text, kwargs, message) -> None:
    with pytest.raises(BigModelError, match=message):
        bm.tag(text, model=ner_folder, **kwargs)


def test_a_model_without_a_token_head_is_refused() -> None:
    with pytest.raises(BigModelError, match="not a token classifier"):
        bm.tag("Abraham", model="tiny-bert-en")


def test_cli_tag(ner_folder, capsys) -> None:
    assert main(["tag", TEXTS[0], "--model", str(ner_folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == bm.tag(TEXTS[0], model=ner_folder)
    assert main(["tag", TEXTS[0], "--model", str(ner_folder)]) == 0
    assert "\t" in capsys.readouterr().out
    assert main(["tag", "", "--model", str(ner_folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: text is empty")
