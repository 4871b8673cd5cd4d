"""Corpus preparation: token files, the split, EOS between documents, clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bigmodel.data.text import (
    CausalLMDataset,
    SentencePairDataset,
    TokenCorpus,
    load_corpus_tokenizer,
    prepare_corpus,
    token_dtype,
)
from bigmodel.errors import BigModelError
from bigmodel.tokenization import train_tokenizer

DOCS = [
    ["In the beginning God created the heaven and the earth.", "And the earth was without form, and void."],
    ["The LORD is my shepherd; I shall not want.", "He maketh me to lie down in green pastures."],
    ["人工智能是一种技术。", "这个手机太好用了。"],
    ["Blessed are the meek: for they shall inherit the earth.", "Blessed are the merciful."],
] * 5


@pytest.fixture(scope="module")
def text_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_text("\n\n".join("\n".join(doc) for doc in DOCS) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def bpe(text_file: Path):  # noqa: ANN201
    return train_tokenizer([text_file], kind="bpe", vocab_size=400, show_progress=False)


def test_prepare_writes_uint16_tokens_with_eos_between_documents(text_file: Path, bpe, tmp_path: Path) -> None:
    meta = prepare_corpus([text_file], bpe, tmp_path, validation_fraction=0.2, show_progress=False)
    assert meta["dtype"] == "uint16"
    assert meta["splits"]["train"]["documents"] + meta["splits"]["validation"]["documents"] == len(DOCS)
    assert meta["splits"]["validation"]["documents"] == 4
    train = TokenCorpus.open(tmp_path, "train", len(bpe))
    assert train.tokens.dtype == np.uint16
    eos = bpe.eos_token_id
    assert int((np.asarray(train.tokens) == eos).sum()) == train.num_documents
    first_doc = np.asarray(train.tokens[: int(np.argmax(np.asarray(train.tokens) == eos))])
    assert bpe.decode(first_doc.tolist()) in {"\n".join(d) for d in DOCS}
    # the sentence spans cover exactly the text of each sentence
    s0, e0 = train.sentences[0]
    assert bpe.decode(np.asarray(train.tokens[s0:e0]).tolist()).strip() in {s for d in DOCS for s in d}
    assert load_corpus_tokenizer(tmp_path).encode("人工智能") == bpe.encode("人工智能")


def test_token_dtype_widens_past_65536() -> None:
    assert token_dtype(65_536) == np.uint16
    assert token_dtype(65_537) == np.uint32


def test_uint16_file_with_a_larger_vocabulary_is_refused(text_file: Path, bpe, tmp_path: Path) -> None:
    prepare_corpus([text_file], bpe, tmp_path, show_progress=False)
    with pytest.raises(BigModelError, match="uint16 but the vocabulary has 70000"):
        TokenCorpus.open(tmp_path, "train", vocab_size=70_000)
    with pytest.raises(BigModelError, match="prepared with another tokenizer"):
        TokenCorpus.open(tmp_path, "train", vocab_size=100)


def test_truncated_token_file_is_refused(text_file: Path, bpe, tmp_path: Path) -> None:
    prepare_corpus([text_file], bpe, tmp_path, show_progress=False)
    data = (tmp_path / "train.bin").read_bytes()
    (tmp_path / "train.bin").write_bytes(data[:-2])
    with pytest.raises(BigModelError, match="re-run `bigmodel prepare`"):
        TokenCorpus.open(tmp_path, "train")


def test_empty_corpus_and_single_document_are_clear_errors(bpe, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n")
    with pytest.raises(BigModelError, match="is empty"):
        prepare_corpus([empty], bpe, tmp_path / "out", show_progress=False)
    with pytest.raises(BigModelError, match="does not exist"):
        prepare_corpus([tmp_path / "missing.txt"], bpe, tmp_path / "out", show_progress=False)
    one = tmp_path / "one.txt"
    one.write_text("just one line\nand another\n")
    with pytest.raises(BigModelError, match="single document"):
        prepare_corpus([one], bpe, tmp_path / "out", show_progress=False)
    meta = prepare_corpus([one], bpe, tmp_path / "lines", split_by="line", show_progress=False)
    assert meta["splits"]["train"]["documents"] == 1


def test_datasets_read_windows_and_sentence_pairs(text_file: Path, tmp_path: Path) -> None:
    wordpiece = train_tokenizer([text_file], kind="wordpiece", vocab_size=300, show_progress=False)
    prepare_corpus([text_file], wordpiece, tmp_path, show_progress=False)
    corpus = TokenCorpus.open(tmp_path, "train", len(wordpiece))
    windows = CausalLMDataset(corpus, 8)
    assert len(windows) == corpus.tokens.size // 8 and windows[1].tolist() == corpus.tokens[8:16].tolist()
    pairs = SentencePairDataset(corpus, 64)
    item = pairs[0]
    assert len(item["a"]) + len(item["b"]) <= 61 and len(item["a"]) > 0 and len(item["b"]) > 0
    sentences = {" ".join(wordpiece.decode(wordpiece.encode(s, add_special_tokens=False)).split()) for d in DOCS for s in d}
    assert wordpiece.decode(item["a"].tolist()) in sentences
    with pytest.raises(BigModelError, match="fewer than seq_len"):
        CausalLMDataset(corpus, 10**7)
    assert json.loads((tmp_path / "meta.json").read_text())["eos_token_id"] is None
