"""The seq2seq objective through the one trainer: dates in, a loadable translator out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import bigmodel.hub as hub
from bigmodel.data.dates import make_pairs
from bigmodel.errors import BigModelError
from bigmodel.models.transformer import Transformer, TransformerConfig
from bigmodel.tokenization import load_tokenizer
from bigmodel.training.seq2seq import exact_match_accuracy, read_pairs, sequence_metrics
from bigmodel.training.trainer import train

TINY_MODEL = {"d_model": 32, "n_heads": 2, "n_encoder_layers": 1, "n_decoder_layers": 1, "d_ff": 64,
              "dropout": 0.0}


def dates_config(out: Path, **task: object) -> dict:
    return {
        "task": {"kind": "seq2seq", "dataset": "dates", "train_examples": 64, "eval_examples": 32} | task,
        "model": {"config": TINY_MODEL},
        "data": {"seq_len": 64},
        "train": {"out_dir": str(out), "max_steps": 25, "batch_size": 16, "lr": 3e-3, "warmup_steps": 2,
                  "eval_every": 0, "eval_batches": 2, "log_every": 1, "progress": False, "weight_decay": 0.0},
    }


def test_trainer_learns_dates_and_saves_a_loadable_model(tmp_path: Path) -> None:
    result = train(dates_config(tmp_path / "run"))
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r["split"] == "train"]
    assert losses[-1] < 0.6 * losses[0]
    assert {"exact_match", "token_accuracy"} <= set(result["validation"])
    model = hub.load(tmp_path / "run")
    tokenizer = load_tokenizer(tmp_path / "run")
    assert isinstance(model, Transformer) and model.config.vocab_size == len(tokenizer)
    assert 0.0 <= exact_match_accuracy(model, tokenizer, make_pairs(8, split="test")) <= 1.0


def test_teacher_forced_exact_match_is_greedy_accuracy() -> None:
    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=20, **TINY_MODEL, max_seq_len=32)
    model = Transformer(config).eval()
    src = torch.randint(4, 20, (4, 6))
    greedy = model.greedy_generate(src, max_new_tokens=8)[:, 1:]  # what greedy writes, BOS dropped
    labels = greedy.clone()
    after_eos = (labels == config.eos_token_id).long().cumsum(-1) - (labels == config.eos_token_id).long()
    labels[after_eos > 0] = -100  # padding after EOS is not scored
    labels[2:, 0] = (labels[2:, 0] + 1 - 4) % 16 + 4  # rows 2, 3: a first token greedy does not pick
    with torch.no_grad():
        logits = model(src, labels=labels).logits
    assert sequence_metrics(logits, labels)["exact_match"] == pytest.approx(0.5)


def test_pairs_from_tsv_and_jsonl(tmp_path: Path) -> None:
    (tmp_path / "a.tsv").write_text("one\t1\ntwo\t2\n\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"source": "one", "target": "1"}\n', encoding="utf-8")
    assert read_pairs(tmp_path / "a.tsv") == [("one", "1"), ("two", "2")]
    assert read_pairs(tmp_path / "b.jsonl") == [("one", "1")]
    (tmp_path / "bad.tsv").write_text("one\t1\ntwo\n", encoding="utf-8")
    with pytest.raises(BigModelError, match=r"bad.tsv:2: expected source<TAB>target"):
        read_pairs(tmp_path / "bad.tsv")
    (tmp_path / "bad.jsonl").write_text('{"source": "one"}\n', encoding="utf-8")
    with pytest.raises(BigModelError, match=r"bad.jsonl:1"):
        read_pairs(tmp_path / "bad.jsonl")


def test_config_mistakes_are_clear(tmp_path: Path) -> None:
    with pytest.raises(BigModelError, match="task.dataset must be one of dates"):
        train(dates_config(tmp_path, dataset="numbers"))
    with pytest.raises(BigModelError, match="unknown config key 'task.train_example'"):
        train(dates_config(tmp_path, train_example=3))
    no_data = dates_config(tmp_path)
    no_data["task"].pop("dataset")
    with pytest.raises(BigModelError, match="data.path"):
        train(no_data)


def test_shipped_recipe_parses() -> None:
    from bigmodel.training.config import load_config

    config = load_config(Path(__file__).parents[2] / "configs" / "seq2seq-dates.toml")
    assert config.task.kind == "seq2seq"
    assert config.task.options["eval_examples"] == config.train.batch_size * config.train.eval_batches
