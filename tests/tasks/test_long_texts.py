"""Texts longer than the context: windows that cover them, in fine-tuning and classify()."""

from __future__ import annotations

import json
import random

import pytest
import torch

from bigmodel.cli import main
from bigmodel.errors import BigModelError
from bigmodel.tasks.text_classification import classify, load_classifier, predict_logits
from bigmodel.tokenization import load_tokenizer
from bigmodel.tokenization.windows import text_windows
from bigmodel.training.classification import finetune

GOOD = ["good", "great", "fine", "lovely", "nice"]
BAD = ["bad", "awful", "poor", "ugly", "broken"]
FILLER = ["the", "phone", "was", "really", "very", "screen", "battery", "and", "it", "is"]
SEQ_LEN = 16


def _long_review(rng: random.Random, label: str) -> str:
    # The verdict comes after 16-22 filler words: past the first SEQ_LEN tokens.
    words = rng.choices(FILLER[:2], k=rng.randint(16, 22))
    return " ".join([*words, rng.choice(GOOD if label == "pos" else BAD)])


def _write(path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    rows = ["text,label"] + [f"{_long_review(rng, y)},{y}" for y in (("pos", "neg")[i % 2] for i in range(n))]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def setup(tmp_path_factory, wordpiece_bert):
    folder = wordpiece_bert(GOOD + BAD + FILLER, SEQ_LEN)
    data = tmp_path_factory.mktemp("data")
    _write(data / "train.csv", 240, seed=1)
    _write(data / "test.csv", 60, seed=2)
    return folder, data


def _recipe(base, data, out, long_texts: str) -> dict:
    return {
        "task": {"kind": "classification", "long_texts": long_texts},
        "model": {"pretrained": str(base)},
        "data": {"path": str(data / "train.csv"), "seq_len": SEQ_LEN},
        "train": {"out_dir": str(out), "max_steps": 200, "batch_size": 16, "lr": 3e-3, "warmup_steps": 5,
                  "weight_decay": 0.0, "eval_every": 100, "eval_batches": 4, "progress": False,
                  "peak_gflops": 1.0, "num_threads": 1},
    }


def _accuracy(model, data, **kwargs) -> float:
    lines = (data / "test.csv").read_text().splitlines()[1:]
    texts, truth = [t.split(",")[0] for t in lines], [t.split(",")[1] for t in lines]
    predicted = classify(texts, model, **kwargs)
    return sum(p["label"] == y for p, y in zip(predicted, truth, strict=True)) / len(truth)


@pytest.fixture(scope="module")
def windowed(setup, tmp_path_factory):
    base, data = setup
    out = tmp_path_factory.mktemp("windows")
    finetune(_recipe(base, data, out, "windows"))
    return out


def test_windows_cover_the_whole_text_and_a_short_text_is_its_truncation(setup) -> None:
    base, _ = setup
    tok = load_tokenizer(base)
    text = " ".join(FILLER * 3)
    body = tok.encode(text, add_special_tokens=False)
    cut = text_windows(tok, [text, "the phone is good"], SEQ_LEN)
    first = cut.of_text(0)
    assert len(first) == -(-len(body) // (SEQ_LEN - 2)) and cut.of_text(1) == [len(first)]
    seen = []
    for w in first:
        ids = cut.input_ids[w]
        assert len(ids) == SEQ_LEN and ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
        seen.append(ids[1:-1])
    assert seen[0] == body[: SEQ_LEN - 2] and seen[-1] == body[-(SEQ_LEN - 2):]
    assert {t for window in seen for t in window} == set(body)
    assert cut.input_ids[-1] == tok.encode("the phone is good")


def test_windows_read_a_verdict_that_truncation_cuts_off(setup, windowed, tmp_path) -> None:
    base, data = setup
    assert json.loads((windowed / "config.json").read_text())["long_texts"] == "windows"
    assert _accuracy(windowed, data) >= 0.9  # the saved setting is the default
    assert _accuracy(windowed, data, long_texts="truncate") <= 0.75
    truncated = tmp_path / "truncate"
    finetune(_recipe(base, data, truncated, "truncate"))
    assert "long_texts" not in json.loads((truncated / "config.json").read_text())
    assert _accuracy(truncated, data) <= 0.75


def test_window_logits_are_the_mean_of_each_windows_logits(windowed) -> None:
    network = load_classifier(windowed)
    tok = load_tokenizer(windowed)
    text = " ".join(FILLER * 2 + ["great"])
    cut = text_windows(tok, [text], SEQ_LEN)
    with torch.inference_mode():
        each = torch.cat([network(torch.tensor([ids])).logits for ids in cut.input_ids])
    got = predict_logits(network, tok, [text, "it is bad"], long_texts="windows")
    assert len(cut.input_ids) >= 2
    torch.testing.assert_close(got[0], each.mean(0), atol=1e-5, rtol=1e-5)
    plain = predict_logits(network, tok, ["it is bad"], long_texts="truncate")
    torch.testing.assert_close(got[1], plain[0], atol=1e-5, rtol=1e-5)


def test_bad_long_texts_values_are_one_clear_error(setup, windowed, tmp_path) -> None:
    base, data = setup
    with pytest.raises(BigModelError, match="config task.long_texts must be one of truncate, windows"):
        finetune(_recipe(base, data, tmp_path / "bad", "sliding"))
    with pytest.raises(BigModelError, match="long_texts must be one of truncate, windows, got 'all'"):
        classify("it is good", windowed, long_texts="all")


def test_cli_classify_and_eval_take_long_texts(setup, windowed, capsys) -> None:
    _, data = setup
    text = " ".join(["the"] * 20 + ["lovely"])
    assert main(["classify", text, "--model", str(windowed), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["label"] == "pos"
    assert main(["classify", text, "--model", str(windowed), "--long-texts", "truncate", "--json"]) == 0
    capsys.readouterr()
    assert main(["eval", "--model", str(windowed), "--data", str(data / "test.csv"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["long_texts"] == "windows" and report["accuracy"] >= 0.9
    with pytest.raises(SystemExit):
        main(["classify", text, "--model", str(windowed), "--long-texts", "all"])
