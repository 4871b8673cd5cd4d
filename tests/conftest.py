"""Shared fixtures: tiny random Hugging Face checkpoints saved to disk, offline."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# F.linear everywhere: no kernel measurement in every test process, never the user's cache file
# (tests/nn/test_kernel_choice.py turns it on with a file of its own).
os.environ.setdefault("BIGMODEL_KERNEL_CACHE", "off")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny_seq2seq(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - a Path
    """A seq2seq Transformer folder (dates -> ISO), trained for a second: its outputs are not
    right yet but are non-empty and vary with the source."""
    from bigmodel.training.trainer import train

    out = tmp_path_factory.mktemp("models") / "tiny-seq2seq"
    train({
        "task": {"kind": "seq2seq", "dataset": "dates", "train_examples": 64, "eval_examples": 0},
        "model": {"config": {"d_model": 32, "n_heads": 2, "n_encoder_layers": 1, "n_decoder_layers": 1,
                             "d_ff": 64, "dropout": 0.0}},
        "data": {"seq_len": 48},
        "train": {"out_dir": str(out), "max_steps": 30, "batch_size": 16, "lr": 3e-3, "warmup_steps": 2,
                  "eval_every": 0, "log_every": 10, "progress": False, "weight_decay": 0.0, "save_every": 0},
    })
    return out


@pytest.fixture(scope="session")
def bert_en_folder(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - a function
    """make(name) -> (a new folder holding tiny-bert-en's tokenizer, its vocabulary size): save
    a tiny random BERT built for that vocabulary into the folder and it loads by path, offline."""
    from bigmodel.tokenization import load_tokenizer

    tok = load_tokenizer("tiny-bert-en")

    def make(name: str):  # noqa: ANN202 - (Path, int)
        folder = tmp_path_factory.mktemp(name)
        tok.save_pretrained(folder)
        return folder, len(tok)

    return make


@pytest.fixture(scope="session")
def wordpiece_vocab(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - a function
    """make(words, vocab_size, name) -> (a new folder, its tokenizer): a WordPiece vocabulary of
    at most ``vocab_size`` trained on ``words`` and saved in the folder (offline), for a tiny
    BERT the caller builds beside it."""
    from bigmodel.tokenization import train_tokenizer

    def make(words: list[str], vocab_size: int, name: str):  # noqa: ANN202 - (Path, tokenizer)
        folder = tmp_path_factory.mktemp(name)
        corpus = folder / "corpus.txt"
        corpus.write_text(" ".join(words) + "\n", encoding="utf-8")
        tok = train_tokenizer([corpus], "wordpiece", vocab_size, folder, min_frequency=1, show_progress=False)
        corpus.unlink()
        return folder, tok

    return make


@pytest.fixture(scope="session")
def wordpiece_bert(wordpiece_vocab):  # noqa: ANN001, ANN201 - a fixture; a function
    """make(words, max_seq_len) -> a folder: a WordPiece vocabulary trained on ``words`` and a
    tiny random 2-layer BERT (d_model 32) for it, saved together (seeded, offline)."""
    from bigmodel.models.bert import BertConfig, BertModel

    def make(words: list[str], max_seq_len: int):  # noqa: ANN202 - a Path
        folder, tok = wordpiece_vocab(words, 200, "tiny-bert")
        torch.manual_seed(0)
        BertModel(BertConfig(vocab_size=len(tok), max_seq_len=max_seq_len, d_model=32, n_layers=2, n_heads=4,
                             d_ff=64)).save_pretrained(folder)
        return folder

    return make
