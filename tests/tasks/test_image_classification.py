"""classify_image / evaluate_images / `bigmodel classify-image`, and training through the trainer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bigmodel.cli import main
from bigmodel.data.images import ImagePreprocessor, digit_images
from bigmodel.errors import BigModelError
from bigmodel.models.resnet import ResNetConfig, ResNetForImageClassification
from bigmodel.registry import SHIPPED_DIR
from bigmodel.tasks.image_classification import classify_image, evaluate_images

LABELS = {0: "dark", 1: "bright", 2: "striped"}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-resnet")
    torch.manual_seed(0)
    config = ResNetConfig(embedding_size=8, hidden_sizes=(8, 16), depths=(1, 1), block="basic", stem="small",
                          id2label=LABELS)
    ResNetForImageClassification(config).eval().save_pretrained(folder)
    ImagePreprocessor(size=8, crop_pct=1.0, mean=(0.5,) * 3, std=(0.5,) * 3).save_pretrained(folder)
    return folder


def _image(kind: str, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = {"dark": 20, "bright": 230}.get(kind, 0)
    array = np.full((12, 12), base, np.int64) + rng.integers(0, 20, (12, 12))
    if kind == "striped":
        array[::2] = 255
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).convert("RGB")


def test_top_k_labels_with_probabilities(tiny_model: Path, tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    _image("bright").save(path)
    ranked = classify_image(path, model=tiny_model, top_k=2)
    assert len(ranked) == 2 and {r["label"] for r in ranked} <= set(LABELS.values())
    assert ranked[0]["score"] >= ranked[1]["score"] and 0 < sum(r["score"] for r in ranked) <= 1 + 1e-6
    everything = classify_image([path, _image("dark")], model=tiny_model, top_k=10)
    assert len(everything) == 2 and all(len(r) == 3 for r in everything)
    assert sum(r["score"] for r in everything[0]) == pytest.approx(1.0, abs=1e-5)
    # a path and a list holding it give the same answer; oneDNN's kernels may round
    # differently with the batch size, so scores agree to float tolerance, not bitwise
    assert [r["label"] for r in everything[0][:2]] == [r["label"] for r in ranked]
    for batched, alone in zip(everything[0][:2], ranked, strict=True):
        assert batched["score"] == pytest.approx(alone["score"], rel=1e-4, abs=1e-6)


def test_bad_inputs_are_named(tiny_model: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    with pytest.raises(BigModelError, match=r"notes\.jpg: not an image"):
        classify_image([text], model=tiny_model)
    with pytest.raises(BigModelError, match="top_k"):
        classify_image(_image("dark"), model=tiny_model, top_k=0)
    # 16-bit grayscale and RGBA are read, not refused
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((9, 9), 40000, np.uint16)).save(deep)
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (9, 9), (10, 200, 30, 128)).save(rgba)
    assert len(classify_image([deep, rgba], model=tiny_model)) == 2


def test_a_text_model_is_refused() -> None:
    import bigmodel as bm

    gpt = bm.create("gpt2", n_layers=1, d_model=8, n_heads=2, d_ff=16, vocab_size=10, max_seq_len=8)
    with pytest.raises(BigModelError, match="needs an image classifier"):
        classify_image(_image("dark"), model=gpt)


def _folder(root: Path, classes: list[str]) -> Path:
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(3):
            _image(name, i).save(root / name / f"{i}.png")
    return root


def test_evaluation_folder_with_unknown_class_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    root = _folder(tmp_path / "eval", ["bright", "cat"])
    with pytest.raises(BigModelError, match="class folder cat that the model was not trained on"):
        evaluate_images(tiny_model, root)


def test_evaluation_of_a_subset_of_classes_with_plot(tiny_model: Path, tmp_path: Path) -> None:
    root = _folder(tmp_path / "eval", ["bright", "dark"])
    (root / "dark" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    report = evaluate_images(tiny_model, root, plot=tmp_path / "cm.png")
    assert report["count"] == 6 and report["per_class"]["bright"]["support"] == 3
    assert report["skipped"] == [str(root / "dark" / "broken.png")]
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_prints_json_and_reports_mistakes(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "x.png"
    _image("striped").save(path)
    assert main(["classify-image", str(path), "--model", str(tiny_model), "--top-k", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["file"] == str(path) and len(rows[0]["labels"]) == 1
    assert main(["classify-image", str(tmp_path / "missing.png"), "--model", str(tiny_model)]) == 2
    assert "missing.png" in capsys.readouterr().err


@pytest.mark.skipif(not (SHIPPED_DIR / "tiny-resnet-digits" / "config.json").is_file(), reason="not shipped yet")
def test_shipped_digits_model_reaches_98_percent_on_held_out_digits() -> None:
    report = evaluate_images("tiny-resnet-digits", "digits")
    assert report["count"] == 540
    assert report["accuracy"] >= 0.98
    images, labels = digit_images("test")
    top = classify_image(images[0], model="tiny-resnet-digits", top_k=3)
    assert top[0]["label"] == str(labels[0])


def test_trainer_learns_an_image_folder(tmp_path: Path) -> None:
    from bigmodel.training.trainer import train

    root = _folder(tmp_path / "train", ["bright", "dark", "striped"])
    config = {
        "task": {"kind": "image_classification", "image_size": 8, "crop_pct": 1.0, "padding": 1, "flip": 0.5,
                 "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "test_size": 0.0},
        "model": {"config": {"stem": "small", "block": "basic", "embedding_size": 8, "hidden_sizes": [8],
                             "depths": [1]}},
        "data": {"path": str(root)},
        "train": {"out_dir": str(tmp_path / "run"), "max_steps": 25, "batch_size": 9, "lr": 1e-2,
                  "warmup_steps": 2, "progress": False, "eval_every": 0},
    }
    result = train(config)
    assert result["train"]["loss"] < 0.5
    out = tmp_path / "run"
    assert json.loads((out / "preprocessor_config.json").read_text())["size"] == {"shortest_edge": 8}
    assert json.loads((out / "config.json").read_text())["id2label"]["2"] == "striped"
    assert classify_image(_image("striped", 7), model=out, top_k=1)[0]["label"] == "striped"
