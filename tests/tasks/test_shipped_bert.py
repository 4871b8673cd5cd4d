"""The shipped BERTs load by name offline and answer like models a learner would keep using."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

import bigmodel as bm
from bigmodel.registry import SHIPPED_DIR

ROOT = Path(__file__).resolve().parents[2]


def _shipped(name: str) -> None:
    if not (SHIPPED_DIR / name / "config.json").is_file():
        pytest.skip(f"{name} is not shipped in this checkout")


def _top(text: str, model: str) -> list[str]:
    return [p["token_str"].strip() for p in bm.fill_mask(text, model=model, top_k=5)]


def test_tiny_bert_en_fills_bible_and_plain_english_blanks() -> None:
    _shipped("tiny-bert-en")
    assert "earth" in _top("In the beginning God created the heaven and the [MASK].", "tiny-bert-en")
    assert {"mat", "floor", "bed", "couch", "sofa", "chair", "table", "ground"} & set(
        _top("The cat sat on the [MASK].", "tiny-bert-en"))


def test_tiny_bert_en_ships_only_what_it_trained() -> None:
    _shipped("tiny-bert-en")
    files = list((SHIPPED_DIR / "tiny-bert-en").iterdir())
    assert all(f.stat().st_size <= 25 * 1024 * 1024 for f in files)
    assert bm.load("tiny-bert-en").num_parameters() > 20_000_000  # the base's tensors are read too


def test_tiny_bert_zh_fills_a_blank_one_character_per_token() -> None:
    _shipped("tiny-bert-zh")
    # The guide's example, a review and a news collocation (stage 3 of the recipe).
    assert _top("人工智能是一种模拟人类智能的技[MASK]。", "tiny-bert-zh")[0] == "术"
    assert "净" in _top("房间很干[MASK]，床也很舒服。", "tiny-bert-zh")
    assert "者" in _top("新华社记[MASK]报道。", "tiny-bert-zh")
    tok = bm.load_tokenizer("tiny-bert-zh")
    pieces = tok.convert_ids_to_tokens(tok.encode("这个手机", add_special_tokens=False))
    assert pieces == ["这", "个", "手", "机"]


def test_tiny_bert_zh_sentiment_classifies_obvious_reviews() -> None:
    _shipped("tiny-bert-zh-sentiment")
    good, bad = bm.classify(["这个手机太好用了，非常满意", "质量太差了，非常失望，不会再买"],
                            model="tiny-bert-zh-sentiment")
    assert good["label"] == "pos" and bad["label"] == "neg"


def test_tiny_bert_zh_sentiment_reads_a_long_review_whole() -> None:
    _shipped("tiny-bert-zh-sentiment")
    assert bm.load("tiny-bert-zh-sentiment").config.long_texts == "windows"
    # 126 characters of neutral description, then the verdict: past the first 126 characters.
    opening = "我是上个月在网上下单买的这款手机，快递第三天送到，包装盒里有充电器、数据线和说明书。" * 3
    bad = opening + "用了一周，质量太差了，经常死机，非常失望，不会再买"
    good = opening + "用了一周，非常好用，速度很快，非常满意，推荐购买"
    assert len(opening) >= 126
    assert [r["label"] for r in bm.classify([bad, good], model="tiny-bert-zh-sentiment")] == ["neg", "pos"]
    # Truncated, both are the same 126 characters: the verdict is lost.
    cut = bm.classify([bad, good], model="tiny-bert-zh-sentiment", long_texts="truncate")
    assert abs(cut[0]["probabilities"]["pos"] - cut[1]["probabilities"]["pos"]) < 1e-3


def test_probe_script_counts_hits() -> None:
    _shipped("tiny-bert-en")
    spec = importlib.util.spec_from_file_location("fill_mask_probes", ROOT / "benchmarks" / "fill_mask_probes.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fill_mask_probes", module)
    spec.loader.exec_module(module)
    probes = module.read_probes(ROOT / "benchmarks" / "cloze_probes_en.txt")
    assert len(probes) >= 20
    rows = module.run_probes("tiny-bert-en", probes[:3], top_k=5)
    assert [r["text"] for r in rows] == [p[0] for p in probes[:3]]
    assert all(len(r["top"]) == 5 for r in rows)
