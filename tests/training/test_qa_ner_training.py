"""Fine-tuning question answering and NER through the trainer: validation F1 rises."""

from __future__ import annotations

import json
import random

import pytest
import torch

import bigmodel as bm
from bigmodel.cli import main
from bigmodel.errors import BigModelError
from bigmodel.models.bert import BertConfig, BertModel
from bigmodel.span_metrics import bio_entities, entity_scores, normalize_answer, squad_scores
from bigmodel.training.trainer import Trainer

PEOPLE = ["Abraham", "Isaac", "Jacob", "Moses", "Aaron", "Joseph", "Sarah", "Rachel", "David", "Samuel"]
PLACES = ["Egypt", "Bethel", "Hebron", "Jerusalem", "Shechem", "Gilead", "Zion", "Babylon", "Sodom", "Canaan"]
THINGS = ["bread", "wine", "gold", "silver", "sheep", "oxen", "corn", "oil"]
LEADS = ["And it came to pass that", "In those days", "Then", "And", "After these things"]


def squad_file(path, n: int, seed: int) -> None:
    """One person in a place with a thing; the question asks for the place or the thing."""
    rng = random.Random(seed)
    paragraphs = []
    for i in range(n):
        who, where, what, lead = rng.choice(PEOPLE), rng.choice(PLACES), rng.choice(THINGS), rng.choice(LEADS)
        context = f"{lead} {who} dwelt in {where} and had {what}." if rng.random() < 0.5 else \
            f"{lead} {who} had {what} and dwelt in {where}."
        question, answer = ((f"Where dwelt {who}?", where) if i % 2 else (f"What had {who}?", what))
        start = context.index(f" {answer}") + 1
        paragraphs.append({"context": context, "qas": [
            {"id": str(i), "question": question, "answers": [{"text": answer, "answer_start": start}]}]})
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": paragraphs}]}), encoding="utf-8")


def conll_file(path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        who, (p, q) = rng.choice(PEOPLE), rng.sample(PLACES, 2)
        words = [(who, "B-PER"), ("went", "O"), ("from", "O"), (p, "B-LOC"), ("unto", "O")]
        words += [("the", "O"), ("land", "O"), ("of", "O"), (q, "B-LOC")] if rng.random() < 0.5 else [(q, "B-LOC")]
        if rng.random() < 0.5:
            words += [("with", "O"), (rng.choice(PEOPLE), "B-PER"), ("the", "I-PER"), ("priest", "I-PER")]
        lines += [f"{w} {t}" for w, t in words] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")


@pytest.fixture(scope="module")
def base_bert(bert_en_folder):
    """A tiny random BERT with tiny-bert-en's vocabulary: fine-tuning must teach it everything."""
    folder, vocab_size = bert_en_folder("base")
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=vocab_size, max_seq_len=64, d_model=64, n_layers=2, n_heads=4,
                         d_ff=128)).save_pretrained(folder)
    return folder


def _recipe(kind, base, train, validation, out, steps, **task) -> dict:
    return {"task": {"kind": kind, **task}, "model": {"pretrained": str(base)},
            "data": {"path": str(train), "validation_path": str(validation), "seq_len": 32},
            "train": {"out_dir": str(out), "max_steps": steps, "batch_size": 16, "lr": 2e-3,
                      "warmup_steps": 10, "weight_decay": 0.01, "eval_every": 0, "eval_batches": 2,
                      "log_every": 50, "progress": False, "seed": 0,
                      "peak_gflops": 1000.0, "num_threads": 1}}


def test_question_answering_finetune_raises_f1(base_bert, tmp_path, capsys) -> None:
    squad_file(tmp_path / "train.json", 400, seed=1)
    squad_file(tmp_path / "dev.json", 40, seed=2)
    trainer = Trainer(_recipe("question_answering", base_bert, tmp_path / "train.json",
                              tmp_path / "dev.json", tmp_path / "qa", 300))
    before = trainer.evaluate()
    result = trainer.train()
    after = result["validation"]
    assert after["f1"] > before["f1"] + 50 and after["exact_match"] > 80, (before, after)
    saved = bm.load(tmp_path / "qa")
    assert saved.architecture == "BertForQuestionAnswering"
    # bm.answer on the held-out questions agrees with the gold spans as the trainer's EM says
    dev = json.loads((tmp_path / "dev.json").read_text(encoding="utf-8"))["data"][0]["paragraphs"]
    hits = 0
    for paragraph in dev:
        qa = paragraph["qas"][0]
        got = bm.answer(qa["question"], paragraph["context"], model=tmp_path / "qa")
        gold = qa["answers"][0]
        assert paragraph["context"][got["start"]:got["end"]] == got["answer"]
        hits += got["answer"] == gold["text"] and got["start"] == gold["answer_start"]
    assert hits >= 0.8 * len(dev), (hits, len(dev))
    assert main(["eval", "--model", str(tmp_path / "qa"), "--data", str(tmp_path / "dev.json"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["questions"] == 40 and report["f1"] == pytest.approx(after["f1"])


def test_token_classification_finetune_raises_entity_f1(base_bert, tmp_path, capsys) -> None:
    conll_file(tmp_path / "train.conll", 300, seed=1)
    conll_file(tmp_path / "dev.conll", 40, seed=2)
    trainer = Trainer(_recipe("token_classification", base_bert, tmp_path / "train.conll",
                              tmp_path / "dev.conll", tmp_path / "ner", 60))
    before = trainer.evaluate()
    result = trainer.train()
    after = result["validation"]
    assert after["entity_f1"] > before["entity_f1"] + 0.5 and after["entity_f1"] > 0.8, (before, after)
    saved = bm.load(tmp_path / "ner")
    assert saved.config.id2label == {0: "O", 1: "B-LOC", 2: "B-PER", 3: "I-PER"}
    groups = bm.tag("Moses went from Egypt unto Zion with Aaron the priest", model=tmp_path / "ner")
    assert [g["entity_group"] for g in groups] == ["PER", "LOC", "LOC", "PER"]
    assert groups[-1]["word"] == "aaron the priest"
    assert main(["eval", "--model", str(tmp_path / "ner"), "--data", str(tmp_path / "dev.conll"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sentences"] == 40 and report["f1"] == pytest.approx(after["entity_f1"])


@pytest.mark.parametrize(("write", "message"), [
    (lambda p: p.write_text("{not json", encoding="utf-8"), "neither SQuAD JSON nor JSON lines"),
    (lambda p: p.write_text(json.dumps({"data": [{"paragraphs": [{"context": "God said", "qas": [
        {"question": "Who?", "answers": [{"text": "God", "answer_start": 3}]}]}]}]}), encoding="utf-8"),
     "is not at answer_start=3"),
])
def test_bad_squad_files_are_one_clear_error(base_bert, tmp_path, write, message) -> None:
    write(tmp_path / "bad.json")
    with pytest.raises(BigModelError, match=message):
        Trainer(_recipe("question_answering", base_bert, tmp_path / "bad.json", tmp_path / "bad.json",
                        tmp_path / "out", 1))


def test_bad_conll_tags_are_one_clear_error(base_bert, tmp_path) -> None:
    (tmp_path / "bad.conll").write_text("Moses B-PER\nwent O\nup X-VERB\n", encoding="utf-8")
    with pytest.raises(BigModelError, match=r"bad.conll:3: tag 'X-VERB' is not BIO"):
        Trainer(_recipe("token_classification", base_bert, tmp_path / "bad.conll", tmp_path / "bad.conll",
                        tmp_path / "out", 1))


def test_squad_normalization_and_scores() -> None:
    assert normalize_answer("The  Land of Egypt!") == "land of egypt"
    scores = squad_scores(["the land of Egypt", "Bethel", "gold"], [["Egypt"], ["Bethel", "Luz"], ["silver"]])
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (2 * (1 / 3) * 1 / (1 / 3 + 1) + 1) / 3)


def test_entity_scores_equal_seqeval() -> None:
    seqeval = pytest.importorskip("seqeval.metrics")
    rng = random.Random(0)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    true = [[rng.choice(tags) for _ in range(rng.randint(1, 12))] for _ in range(300)]
    pred = [[t if rng.random() < 0.7 else rng.choice(tags) for t in s] for s in true]
    ours = entity_scores(true, pred)
    assert ours["precision"] == pytest.approx(seqeval.precision_score(true, pred))
    assert ours["recall"] == pytest.approx(seqeval.recall_score(true, pred))
    assert ours["f1"] == pytest.approx(seqeval.f1_score(true, pred))
    assert bio_entities(["I-PER", "I-PER", "O", "B-LOC", "I-PER"]) == [("PER", 0, 1), ("LOC", 3, 3), ("PER", 4, 4)]


@pytest.mark.parametrize(("kind", "data_file"), [
    ("question_answering", "a SQuAD-format .json file"),
    ("token_classification", "a CoNLL-style file (token tag per line)"),
])
@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r["model"].update(pretrained=""),
     'model.pretrained is empty: name the BERT to fine-tune, e.g. "tiny-bert-en"'),
    (lambda r: r["data"].update(path=""), "data.path is empty: point it at {data_file}"),
    (lambda r: r["model"].update(architecture="BertForMaskedLM"),
     "model.architecture 'BertForMaskedLM': {task} trains Bert"),
])
def test_an_incomplete_recipe_is_one_error_naming_the_key(base_bert, tmp_path, kind, data_file, change,
                                                          message) -> None:
    write = squad_file if kind == "question_answering" else conll_file
    write(tmp_path / "train.txt", 4, 0)
    recipe = _recipe(kind, base_bert, tmp_path / "train.txt", tmp_path / "train.txt", tmp_path / "out", 1)
    change(recipe)
    expected = message.format(data_file=data_file, task=kind.replace("_", " "))
    with pytest.raises(BigModelError) as caught:
        Trainer(recipe)
    assert expected in str(caught.value) and "\n" not in str(caught.value)
