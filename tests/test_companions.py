"""A saved folder is complete: transformers' pipelines give bigmodel's answers from it, and a
config transformers cannot express is flagged at save time."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import bigmodel as bm
from bigmodel.data.images import ImagePreprocessor, digit_images

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

TEXT = "In the beginning God created the [MASK]."


def test_saved_bert_fill_mask_pipeline_matches(tmp_path: Path) -> None:
    model = bm.load("tiny-bert-en")
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"].startswith("BertTokenizer")
    assert config["mask_token"] == "[MASK]"
    assert config["model_max_length"] == model.config.max_seq_len
    ours = bm.fill_mask(TEXT, model=tmp_path, top_k=3)
    theirs = transformers.pipeline("fill-mask", model=str(tmp_path), top_k=3)(TEXT)
    assert [r["token_str"] for r in theirs] == [r["token_str"] for r in ours]
    assert [r["score"] for r in theirs] == pytest.approx([r["score"] for r in ours], abs=1e-4)
    assert transformers.AutoTokenizer.from_pretrained(str(tmp_path))("the lord")["input_ids"] \
        == bm.load_tokenizer("tiny-bert-en").encode("the lord")


def test_saved_gpt_text_generation_pipeline_matches(tmp_path: Path) -> None:
    bm.load("tiny-gpt-en").save_pretrained(tmp_path)
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["tokenizer_class"].startswith("GPT2")
    ours = bm.generate("And God said", model=tmp_path, max_new_tokens=8, do_sample=False)
    generator = transformers.pipeline("text-generation", model=str(tmp_path))
    theirs = generator("And God said", max_new_tokens=8, do_sample=False)[0]["generated_text"]
    assert theirs == "And God said" + ours


def test_explicit_tokenizer_is_saved(tmp_path: Path) -> None:
    model = bm.create("gpt2", n_layers=1, d_model=32, n_heads=2, vocab_size=600)
    tokenizer = bm.load_tokenizer("tiny-gpt-en")
    model.save_pretrained(tmp_path, tokenizer=tokenizer)
    assert tokenizer.model_max_length is None  # the caller's object is left as it was
    saved = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert saved["model_max_length"] == model.config.max_seq_len
    assert bm.load_tokenizer(tmp_path).encode("And God") == tokenizer.encode("And God")


def _pictures() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)) for _ in range(3)]


def test_saved_resnet_image_classification_pipeline_matches(tmp_path: Path) -> None:
    labels = {i: f"class{i}" for i in range(5)}
    model = bm.create("resnet18", embedding_size=8, hidden_sizes=(8, 16), depths=(1, 1),
                      num_labels=5, id2label=labels).eval()
    preprocessor = ImagePreprocessor(size=32, crop_pct=0.875)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the standard stem is expressible: no warning
        model.save_pretrained(tmp_path, preprocessor=preprocessor)
    assert "bigmodel_only" not in json.loads((tmp_path / "config.json").read_text())
    classifier = transformers.pipeline("image-classification", model=str(tmp_path), top_k=3)
    for picture in _pictures():
        ours = bm.classify_image(picture, model=tmp_path, top_k=3)
        theirs = classifier(picture)
        assert [r["label"] for r in theirs] == [r["label"] for r in ours]
        assert [r["score"] for r in theirs] == pytest.approx([r["score"] for r in ours], abs=1e-3)


def test_tiny_resnet_digits_round_trip_keeps_answers_and_warns(tmp_path: Path) -> None:
    images, labels = digit_images("test")
    images, labels = images[:40], labels[:40]
    before = [r[0]["label"] for r in bm.classify_image(images, model="tiny-resnet-digits", top_k=1)]
    with pytest.warns(UserWarning, match="bigmodel only"):
        bm.load("tiny-resnet-digits").save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["bigmodel_only"] is True
    assert "bigmodel only" in (tmp_path / "README.md").read_text()
    assert ImagePreprocessor.from_pretrained(tmp_path).size == 8
    after = [r[0]["label"] for r in bm.classify_image(images, model=tmp_path, top_k=1)]
    assert after == before
    assert sum(p == str(t) for p, t in zip(after, labels, strict=True)) >= 36
    reloaded = bm.load(tmp_path)
    with torch.inference_mode():
        assert reloaded.config.stem == "small"
