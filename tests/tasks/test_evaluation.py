"""Evaluation: classifier reports equal scikit-learn's, perplexity equals exp(loss), bad files."""

from __future__ import annotations

import json
import math

import pytest
import torch

from bigmodel.cli import main
from bigmodel.errors import BigModelError
from bigmodel.models.bert import BertConfig, BertForSequenceClassification
from bigmodel.models.gpt import GPT, GPTConfig, causal_lm_loss
from bigmodel.tasks.evaluation import evaluate_classifier, evaluate_perplexity
from bigmodel.tasks.text_classification import classify
from bigmodel.tokenization import train_tokenizer

WORDS = "red green blue small large quick slow bright dark warm cold soft".split()
LABELS = {0: "a", 1: "b", 2: "c"}


@pytest.fixture(scope="module")
def classifier(wordpiece_vocab):
    """A random 3-class BERT classifier with its tokenizer: predictions of every kind."""
    folder, tok = wordpiece_vocab(WORDS, 100, "clf")
    torch.manual_seed(3)
    model = BertForSequenceClassification(BertConfig(vocab_size=len(tok), max_seq_len=32, d_model=32, n_layers=1,
                                                     n_heads=4, d_ff=64, id2label=LABELS,
                                                     # large weights: predictions of every class
                                                     initializer_range=0.5))
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    torch.manual_seed(4)
    path = tmp_path_factory.mktemp("d") / "test.jsonl"
    rows = []
    for i in range(60):
        words = [WORDS[j] for j in torch.randint(0, len(WORDS), (int(torch.randint(2, 7, ())),)).tolist()]
        rows.append({"text": " ".join(words), "label": LABELS[i % 3]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path, rows


def test_report_equals_scikit_learn_on_the_models_predictions(classifier, labelled, tmp_path) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    path, rows = labelled
    report = evaluate_classifier(classifier, path, plot=tmp_path / "cm.png")
    predicted = [p["label"] for p in classify([r["text"] for r in rows], classifier)]
    truth = [r["label"] for r in rows]
    names = ["a", "b", "c"]
    assert len(set(predicted)) >= 2
    assert report["accuracy"] == pytest.approx(metrics.accuracy_score(truth, predicted))
    assert report["macro_f1"] == pytest.approx(metrics.f1_score(truth, predicted, average="macro", labels=names,
                                                                zero_division=0))
    precision = metrics.precision_score(truth, predicted, average=None, labels=names, zero_division=0)
    assert [report["per_class"][n]["precision"] for n in names] == pytest.approx(list(precision))
    assert report["confusion_matrix"] == metrics.confusion_matrix(truth, predicted, labels=names).tolist()
    assert (tmp_path / "cm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_labels_the_model_never_saw_are_named(classifier, tmp_path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("text,label\nred green,a\nblue,zzz\n", encoding="utf-8")
    with pytest.raises(BigModelError, match="'zzz'.*knows 'a', 'b', 'c'"):
        evaluate_classifier(classifier, path)


def test_cli_eval_prints_table_json_and_clear_errors(classifier, labelled, tmp_path, capsys) -> None:
    path, _ = labelled
    assert main(["eval", "--model", str(classifier), "--data", str(path)]) == 0
    text = capsys.readouterr().out
    assert "precision" in text and "accuracy" in text
    assert "predicted" in text  # the confusion matrix is printed too
    assert main(["eval", "--model", str(classifier), "--data", str(path), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) >= {"accuracy", "macro_f1", "per_class", "confusion_matrix"}
    no_label = tmp_path / "n.csv"
    no_label.write_text("text,sentiment\nred,a\n", encoding="utf-8")
    assert main(["eval", "--model", str(classifier), "--data", str(no_label)]) == 2
    assert "columns found: 'text', 'sentiment'" in capsys.readouterr().err
    gbk = tmp_path / "g.csv"
    gbk.write_bytes("text,label\n好,a\n".encode("gbk"))
    assert main(["eval", "--model", str(classifier), "--data", str(gbk)]) == 2
    assert "not UTF-8" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_gpt(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt")
    corpus = folder / "corpus.txt"
    corpus.write_text(" ".join(WORDS) * 5 + "\n", encoding="utf-8")
    tok = train_tokenizer([corpus], "bpe", 300, folder, min_frequency=1, show_progress=False)
    corpus.unlink()
    torch.manual_seed(5)
    model = GPT(GPTConfig(vocab_size=len(tok), max_seq_len=64, d_model=32, n_layers=2, n_heads=4)).eval()
    model.save_pretrained(folder)
    return folder, model, tok


def test_perplexity_of_one_window_is_exp_of_the_loss(tiny_gpt, tmp_path) -> None:
    folder, model, tok = tiny_gpt
    text = tmp_path / "t.txt"
    text.write_text("red green blue small large quick slow", encoding="utf-8")
    ids = torch.tensor([tok.encode(text.read_text(), add_special_tokens=False)])
    with torch.no_grad():
        loss = float(causal_lm_loss(model(ids).logits, ids))
    result = evaluate_perplexity(folder, text)
    assert result["tokens"] == ids.shape[1] - 1
    assert result["perplexity"] == pytest.approx(math.exp(loss), rel=1e-5)


def test_sliding_window_scores_every_token_once(tiny_gpt, tmp_path) -> None:
    folder, _, tok = tiny_gpt
    text = tmp_path / "long.txt"
    text.write_text(" ".join(WORDS * 12), encoding="utf-8")
    n = len(tok.encode(text.read_text(), add_special_tokens=False))
    assert n > 64
    for window, stride in [(64, 32), (16, 15), (16, 5), (400, 7)]:
        assert evaluate_perplexity(folder, text, window=window, stride=stride)["tokens"] == n - 1
    with pytest.raises(BigModelError, match="stride"):
        evaluate_perplexity(folder, text, window=8, stride=8)


def test_cli_eval_on_a_language_model_reports_perplexity(tiny_gpt, tmp_path, capsys) -> None:
    folder, _, _ = tiny_gpt
    text = tmp_path / "t.txt"
    text.write_text("red green blue small large quick slow bright", encoding="utf-8")
    assert main(["eval", "--model", str(folder), "--data", str(text), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["perplexity"] > 1
    empty = tmp_path / "e.txt"
    empty.write_text("  \n", encoding="utf-8")
    assert main(["eval", "--model", str(folder), "--data", str(empty)]) == 2
    assert "no text" in capsys.readouterr().err
