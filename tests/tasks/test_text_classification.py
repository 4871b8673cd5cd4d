"""Fine-tuning a classifier through the trainer, classify(), and the saved folder."""

from __future__ import annotations

import json
import random

import pytest
import torch

import bigmodel
from bigmodel.cli import main
from bigmodel.errors import BigModelError
from bigmodel.models.gpt import GPT, GPTConfig
from bigmodel.tasks.text_classification import classify
from bigmodel.tokenization import train_tokenizer
from bigmodel.training.classification import balanced_class_weights, finetune

GOOD = ["good", "great", "fine", "lovely", "nice"]
BAD = ["bad", "awful", "poor", "ugly", "broken"]
FILLER = ["the", "phone", "was", "really", "very", "screen", "battery", "and", "it", "is"]


def _sentence(rng: random.Random, label: str) -> str:
    words = rng.choices(FILLER, k=rng.randint(3, 7))
    words.insert(rng.randrange(len(words) + 1), rng.choice(GOOD if label == "pos" else BAD))
    return " ".join(words)


def _write_labelled(path, n: int, seed: int, labels=("pos", "neg")) -> None:
    rng = random.Random(seed)
    rows = ["text,label"] + [f"{_sentence(rng, y)},{y}" for y in (labels[i % len(labels)] for i in range(n))]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def base_bert(wordpiece_bert):
    return wordpiece_bert(GOOD + BAD + FILLER, 32)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    _write_labelled(folder / "train.csv", 240, seed=1)
    _write_labelled(folder / "test.csv", 60, seed=2)
    return folder


def _recipe(base, data, out, **task) -> dict:
    return {
        "task": {"kind": "classification", **task},
        "model": {"pretrained": str(base)},
        "data": {"path": str(data / "train.csv"), "seq_len": 16},
        "train": {"out_dir": str(out), "max_steps": 60, "batch_size": 16, "lr": 3e-3, "warmup_steps": 5,
                  "weight_decay": 0.0, "eval_every": 20, "eval_batches": 4, "progress": False,
                  "peak_gflops": 1.0, "num_threads": 1},
    }


@pytest.fixture(scope="module")
def trained(base_bert, data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = finetune(_recipe(base_bert, data, out))
    return out, result


def test_loss_falls_and_accuracy_rises_well_above_chance(trained, data) -> None:
    out, result = trained
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train_losses = [r["loss"] for r in rows if r["split"] == "train"]
    assert train_losses[-1] < 0.5 * train_losses[0]
    assert result["validation"]["accuracy"] >= 0.9
    predictions = classify([t.split(",")[0] for t in (data / "test.csv").read_text().splitlines()[1:]], out)
    truth = [t.split(",")[1] for t in (data / "test.csv").read_text().splitlines()[1:]]
    accuracy = sum(p["label"] == y for p, y in zip(predictions, truth, strict=True)) / len(truth)
    assert accuracy >= 0.9


def test_classify_returns_label_score_and_probabilities(trained) -> None:
    out, _ = trained
    one = classify("the battery is great", out)
    assert set(one) == {"label", "score", "probabilities"}
    assert one["label"] == "pos" and one["score"] == max(one["probabilities"].values())
    assert abs(sum(one["probabilities"].values()) - 1) < 1e-5
    assert list(classify(["the battery is awful"], out, top_k=1)[0]["probabilities"]) == ["neg"]


def test_saved_folder_keeps_labels_and_loads_in_transformers(trained) -> None:
    transformers = pytest.importorskip("transformers")
    out, _ = trained
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["id2label"] == {"0": "neg", "1": "pos"}
    assert (out / "vocab.txt").is_file() or (out / "tokenizer.json").is_file()
    ours = bigmodel.hub.load(out)
    hf = transformers.BertForSequenceClassification.from_pretrained(out).eval()
    assert hf.config.id2label == {0: "neg", 1: "pos"}
    ids = torch.randint(0, ours.config.vocab_size, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    with torch.no_grad():
        assert torch.allclose(ours(ids, attention_mask=mask).logits, hf(ids, attention_mask=mask).logits,
                              atol=1e-5, rtol=0)


def test_lora_run_saves_adapter_trains_only_it_and_merged_equals_adapter(base_bert, data, tmp_path) -> None:
    recipe = _recipe(base_bert, data, tmp_path / "lora", lora=True, lora_rank=4, lora_alpha=8.0,
                     lora_modules_to_save=["classifier", "pooler"])
    recipe["train"].update(lr=1e-2, max_steps=160)
    result = finetune(recipe)
    # A random body learns slowly through rank-4 adapters; well above chance is enough here.
    assert result["validation"]["accuracy"] >= 0.75
    out = tmp_path / "lora"
    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and adapter["base_model_name_or_path"] == str(base_bert)
    # Adapter-only folder (no merged copy): classify loads base + adapter and merges.
    only = tmp_path / "adapter-only"
    only.mkdir()
    for name in ("adapter_model.safetensors", "adapter_config.json", "vocab.txt", "tokenizer.json",
                 "tokenizer_config.json", "special_tokens_map.json"):
        if (out / name).is_file():
            (only / name).write_bytes((out / name).read_bytes())
    texts = ["the screen is lovely", "it is broken and ugly", "very poor battery"]
    merged = classify(texts, out)
    from_adapter = classify(texts, only)
    for a, b in zip(merged, from_adapter, strict=True):
        assert a["label"] == b["label"]
        assert abs(a["score"] - b["score"]) < 1e-4


def test_gpt_body_fine_tunes_too(data, tmp_path) -> None:
    base = tmp_path / "gpt"
    corpus = tmp_path / "c.txt"
    corpus.write_text(" ".join(GOOD + BAD + FILLER) * 3 + "\n", encoding="utf-8")
    tok = train_tokenizer([corpus], "bpe", 300, base, min_frequency=1, show_progress=False)
    GPT(GPTConfig(vocab_size=len(tok), max_seq_len=32, d_model=32, n_layers=2, n_heads=4,
                  bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)).save_pretrained(base)
    recipe = _recipe(base, data, tmp_path / "run", class_weights="balanced")
    result = finetune(recipe)
    assert result["validation"]["accuracy"] >= 0.8
    assert bigmodel.hub.load(tmp_path / "run").architecture == "GPT2ForSequenceClassification"
    assert classify("the phone is awful", tmp_path / "run")["label"] == "neg"


def test_early_stopping_keeps_the_best_step(base_bert, data, tmp_path) -> None:
    recipe = _recipe(base_bert, data, tmp_path / "es", early_stopping_patience=1, early_stopping_metric="loss")
    recipe["train"].update(max_steps=400, eval_every=10, lr=3e-2)
    result = finetune(recipe)
    stop = result["early_stopping"]
    assert stop["stopped_at"] is not None and stop["stopped_at"] < 400
    assert stop["best_step"] <= stop["stopped_at"]


def test_balanced_class_weights() -> None:
    weights = balanced_class_weights([0, 0, 0, 1], 3)
    assert torch.allclose(weights, torch.tensor([4 / 9, 4 / 3, 0.0]))


def test_bad_inputs_are_clear(trained, base_bert, tmp_path) -> None:
    out, _ = trained
    with pytest.raises(BigModelError, match="not a text classifier"):
        classify("hi", base_bert)
    with pytest.raises(BigModelError, match="empty"):
        classify(["fine", "  "], out)
    one_class = tmp_path / "one.csv"
    _write_labelled(one_class, 20, seed=3, labels=("pos",))
    recipe = _recipe(base_bert, tmp_path, tmp_path / "x")
    recipe["data"]["path"] = str(one_class)
    with pytest.raises(BigModelError, match="only one class"):
        finetune(recipe)


def test_cli_classify_json_and_errors(trained, tmp_path, capsys) -> None:
    out, _ = trained
    texts = tmp_path / "in.txt"
    texts.write_text("the battery is great\n\nthe screen is broken\n", encoding="utf-8")
    assert main(["classify", "--model", str(out), "--file", str(texts), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in rows] == ["pos", "neg"] and rows[0]["text"] == "the battery is great"
    assert main(["classify", "very nice", "--model", str(out)]) == 0
    assert capsys.readouterr().out.startswith("pos\t")
    bad = tmp_path / "gbk.txt"
    bad.write_bytes("好评".encode("gbk"))
    assert main(["classify", "--model", str(out), "--file", str(bad)]) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_time_budget_refits_the_schedule_and_ends_the_run(monkeypatch) -> None:
    import time
    import types

    from bigmodel.training.classification import TimeBudget
    from bigmodel.training.optim import build_optimizer, build_scheduler

    clock = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    layer = torch.nn.Linear(2, 2)
    optimizer = build_optimizer(layer, lr=1.0)
    scheduler = build_scheduler(optimizer, warmup_steps=2, total_steps=1000, min_lr_ratio=0.0)
    settings = types.SimpleNamespace(max_steps=1000, warmup_steps=2, min_lr_ratio=0.0)
    trainer = types.SimpleNamespace(step=0, config=types.SimpleNamespace(train=settings), scheduler=scheduler)
    budget = TimeBudget(minutes=1.0, every=5)  # 60 s at 1 s per step: ~60 steps fit, not 1000
    lrs = []
    while trainer.step < settings.max_steps:
        optimizer.step()
        scheduler.step()
        trainer.step += 1
        clock[0] += 1.0
        budget(trainer, {})
        lrs.append(scheduler.get_last_lr()[0])
    assert 55 <= trainer.step <= 62
    assert lrs[-1] < 0.01 and max(lrs) > 0.9  # the cosine decayed within the budget


def test_bigmodel_train_verb_fine_tunes_from_a_toml_recipe(base_bert, data, tmp_path, capsys) -> None:
    recipe = f"""
[task]
kind = "classification"
[model]
pretrained = "{base_bert}"
[data]
path = "{data / 'train.csv'}"
seq_len = 16
[train]
out_dir = "{tmp_path / 'run'}"
max_steps = 40
batch_size = 16
lr = 3e-3
warmup_steps = 5
progress = false
num_threads = 1
peak_gflops = 1.0
"""
    (tmp_path / "recipe.toml").write_text(recipe, encoding="utf-8")
    assert main(["train", str(tmp_path / "recipe.toml"), "train.max_steps=30", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 30
    assert classify("the battery is great", tmp_path / "run")["label"] in ("pos", "neg")
    assert main(["train", str(tmp_path / "recipe.toml"), "task.class_weight=balanced"]) == 2
    assert "did you mean" in capsys.readouterr().err


def test_interrupted_lora_run_resumes_to_the_same_losses_and_adapter(base_bert, data, tmp_path) -> None:
    from bigmodel.training.classification import make_trainer
    from bigmodel.training.trainer import find_checkpoint

    def recipe(out):
        cfg = _recipe(base_bert, data, out, lora=True, lora_rank=4, lora_dropout=0.1)
        cfg["train"] |= {"max_steps": 8, "save_every": 4, "eval_every": 4, "log_every": 1}
        return cfg

    def losses(out):
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        return {r["step"]: r["loss"] for r in rows if r["split"] == "train"}

    full = make_trainer(recipe(tmp_path / "full"))
    full.train()

    def crash_after_6(trainer, row) -> None:
        if row["step"] == 6:
            raise KeyboardInterrupt

    crashed = make_trainer(recipe(tmp_path / "crash"))
    crashed.callbacks.append(crash_after_6)
    with pytest.raises(KeyboardInterrupt):
        crashed.train()
    assert (find_checkpoint(tmp_path / "crash") / "adapter_model.safetensors").is_file()
    resumed = make_trainer(recipe(tmp_path / "crash"))
    resumed.train(resume=True)
    expected, got = losses(tmp_path / "full"), losses(tmp_path / "crash")
    assert [got[s] for s in range(1, 9)] == [expected[s] for s in range(1, 9)]
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
