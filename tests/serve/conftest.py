"""Tiny random models saved as folders, and a server on a free loopback port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from bigmodel.hub import create
from bigmodel.models.bert import BertConfig, BertForMaskedLM, BertForSequenceClassification
from bigmodel.tokenization import load_tokenizer

WORDS = ("the capital of france is paris . a cat sat on mat dog ran to city big small red blue "
         "green house car tree sun moon star river sea hill road").split()


def save_tiny_gpt(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    # A large init spread gives peaked, varied logits: greedy text that is not one repeated token.
    model = create("gpt2", n_layers=2, d_model=64, n_heads=4, max_seq_len=128, initializer_range=0.3)
    model.save_pretrained(folder)
    load_tokenizer("gpt2").save_pretrained(folder)
    return folder


def save_tiny_bert(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True,
                                                              "tokenizer_class": "BertTokenizer"}))
    config = BertConfig(vocab_size=len(vocab), max_seq_len=64, d_model=32, n_layers=2, n_heads=4, d_ff=48)
    BertForMaskedLM(config).save_pretrained(folder)
    return folder


def save_tiny_classifier(folder: Path, seed: int = 0) -> Path:
    save_tiny_bert(folder, seed)
    config = BertConfig(vocab_size=5 + len(WORDS), max_seq_len=64, d_model=32, n_layers=2, n_heads=4, d_ff=48,
                        id2label={0: "negative", 1: "positive"})
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from a second thread; on a busy machine it costs a lot of waiting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_gpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_gpt(tmp_path_factory.mktemp("models") / "tiny-gpt")


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_classifier(tmp_path_factory.mktemp("models") / "tiny-sentiment")


@pytest.fixture(scope="module")
def server(tiny_gpt: Path, tiny_bert: Path, tiny_classifier: Path) -> Iterator[object]:
    """tiny-gpt (generation), tiny-bert (fill-mask), all-minilm-l6-v2 (embeddings) and
    tiny-sentiment (classification)."""
    from bigmodel.serve import BackgroundServer, create_app

    app = create_app([str(tiny_gpt), str(tiny_bert)], embedding_models=["all-minilm-l6-v2"],
                     classifiers=[str(tiny_classifier)], max_batch_size=4, max_concurrency=8)
    with BackgroundServer(app) as running:
        running.app = app
        yield running
