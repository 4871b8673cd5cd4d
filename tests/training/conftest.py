"""A tiny corpus, its tokenizers and prepared token folders, built once per session."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bigmodel.data.text import prepare_corpus
from bigmodel.tokenization import train_tokenizer

WORDS = "the cat sat on a mat while dog ran far away in house with big red door and small".split()


def write_corpus(path: Path, docs: int = 40, seed: int = 0) -> Path:
    # A few fixed sentences in random order: learnable, so a loss can fall far in seconds.
    rng = random.Random(seed)
    sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12))) + "." for _ in range(12)]
    text = "\n\n".join("\n".join(rng.choice(sentences) for _ in range(6)) for _ in range(docs))
    path.write_text(text + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpus")
    text = write_corpus(root / "corpus.txt")
    bpe = train_tokenizer([text], kind="bpe", vocab_size=300, out_dir=root / "bpe", show_progress=False)
    wordpiece = train_tokenizer([text], kind="wordpiece", vocab_size=200, out_dir=root / "wp", show_progress=False)
    prepare_corpus([text], bpe, root / "gpt-data", show_progress=False)
    prepare_corpus([text], wordpiece, root / "bert-data", show_progress=False)
    return {"text": text, "gpt": root / "gpt-data", "bert": root / "bert-data", "bpe": root / "bpe",
            "wordpiece": root / "wp"}


def gpt_config(data: Path, out: Path, **train: object) -> dict:
    return {
        "task": {"kind": "causal_lm"},
        "model": {"config": {"n_layers": 2, "d_model": 32, "n_heads": 2, "dropout": 0.0, "attn_dropout": 0.0}},
        "data": {"path": str(data), "seq_len": 32},
        "train": {"out_dir": str(out), "max_steps": 40, "batch_size": 4, "lr": 3e-3, "warmup_steps": 2,
                  "eval_every": 0, "eval_batches": 2, "progress": False, "peak_gflops": 100.0} | train,
    }


def bert_config(data: Path, out: Path, **train: object) -> dict:
    return {
        "task": {"kind": "mlm_nsp"},
        "model": {"config": {"n_layers": 2, "d_model": 32, "n_heads": 2, "d_ff": 64}},
        "data": {"path": str(data), "seq_len": 32},
        "train": {"out_dir": str(out), "max_steps": 40, "batch_size": 8, "lr": 3e-3, "warmup_steps": 2,
                  "eval_every": 0, "eval_batches": 2, "progress": False, "peak_gflops": 100.0} | train,
    }


@pytest.fixture
def make_gpt_config():  # noqa: ANN201 - returns the builder above
    return gpt_config


@pytest.fixture
def make_bert_config():  # noqa: ANN201
    return bert_config
