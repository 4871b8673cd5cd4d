"""Image loading and transforms: documented shapes and ranges, odd formats, broken folders."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bigmodel.data.images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImagePreprocessor,
    center_crop,
    collate_images,
    digit_images,
    digits_dataset,
    image_folder,
    load_image,
    random_crop,
    resize_shortest_edge,
)
from bigmodel.errors import BigModelError


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_eval_transform_shape_and_range() -> None:
    pre = ImagePreprocessor(size=32, crop_pct=0.875)
    x = pre([_noise(50, 40), _noise(17, 90, seed=1)])
    assert x.shape == (2, 3, 32, 32) and x.dtype == torch.float32
    low = (0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    high = (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    for c in range(3):
        assert low[c] - 1e-5 <= x[:, c].min() and x[:, c].max() <= high[c] + 1e-5
    # pure white is exactly (1 - mean) / std in every channel
    white = pre(Image.new("RGB", (64, 48), (255, 255, 255)))[0]
    torch.testing.assert_close(white[:, 0, 0], torch.tensor(high, dtype=torch.float32))


def test_resize_keeps_aspect_and_crop_is_central() -> None:
    image = resize_shortest_edge(_noise(200, 100), 50)
    assert image.size == (100, 50)
    array = np.zeros((10, 10, 3), np.uint8)
    array[4:6, 4:6] = 255
    cropped = np.asarray(center_crop(Image.fromarray(array), 2, 2))
    assert cropped.min() == 255  # the bright centre, nothing else


def test_matches_transformers_convnext_image_processor() -> None:
    transformers = pytest.importorskip("transformers")
    try:
        reference = transformers.ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.875)
        image = _noise(61, 45)
        expected = reference(image, return_tensors="pt")["pixel_values"]
    except Exception as exc:  # noqa: BLE001 - the oracle is optional (it may need torchvision)
        pytest.skip(f"transformers' ConvNextImageProcessor unavailable here: {exc}")
    ours = ImagePreprocessor.from_hf_dict(reference.to_dict())(image)
    assert ours.shape == expected.shape
    # both resize with Pillow's bicubic: the same numbers
    assert (ours - expected).abs().max() < 1e-5


def test_training_augmentation_shape_and_flip() -> None:
    pre = ImagePreprocessor(size=8, crop_pct=1.0, padding=2, flip=1.0)
    array = np.zeros((8, 8, 3), np.uint8)
    array[:, :4] = 255  # left half bright
    torch.manual_seed(0)
    x = pre.train_transform(Image.fromarray(array))
    assert x.shape == (3, 8, 8)
    no_pad = ImagePreprocessor(size=8, crop_pct=1.0, flip=1.0).train_transform(Image.fromarray(array))
    assert no_pad[0, :, 4:].min() > no_pad[0, :, :4].max()  # flipped: the right half is bright now
    assert random_crop(Image.fromarray(array), 8, padding=3).size == (8, 8)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16", "CMYK", "1"])
def test_any_mode_becomes_8bit_rgb(mode: str, tmp_path: Path) -> None:
    path = tmp_path / ("x.tiff" if mode == "CMYK" else "x.png")
    if mode == "I;16":
        Image.fromarray(np.full((6, 5), 65535, np.uint16)).save(path)
    else:
        _noise(5, 6).convert(mode).save(path)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (5, 6)
    if mode == "I;16":
        assert np.asarray(image).min() == 255  # 16-bit full scale -> 8-bit full scale


def test_transparent_pixels_become_white() -> None:
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert np.asarray(load_image(rgba)).min() == 255


def test_arrays_of_other_depths_are_scaled() -> None:
    assert np.asarray(load_image(np.full((3, 3), 1.0))).min() == 255  # float in [0, 1]
    assert np.asarray(load_image(np.full((3, 3), 1000, np.uint16))).max() == round(1000 / 257)
    with pytest.raises(BigModelError, match="image array must be"):
        load_image(np.zeros((2, 2, 2)))


def test_non_image_and_missing_files_are_named(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture")
    with pytest.raises(BigModelError, match=r"notes\.png: not an image"):
        load_image(text)
    with pytest.raises(BigModelError, match="not found"):
        load_image(tmp_path / "nope.jpg")


def _folder(tmp_path: Path) -> Path:
    for name, seed in (("cat", 0), ("dog", 1)):
        (tmp_path / name).mkdir()
        for i in range(2):
            _noise(12, 10, seed * 10 + i).save(tmp_path / name / f"{i}.png")
    return tmp_path


def test_image_folder_reports_a_corrupt_file_and_continues(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _folder(tmp_path)
    good = (root / "dog" / "0.png").read_bytes()
    (root / "dog" / "broken.png").write_bytes(good[: len(good) // 2])  # truncated
    with caplog.at_level(logging.WARNING):
        dataset = image_folder(root, ImagePreprocessor(size=8))
    assert len(dataset) == 4 and dataset.classes == ["cat", "dog"]
    assert [p.name for p, _ in dataset.skipped] == ["broken.png"]
    assert "broken.png" in caplog.text
    batch = collate_images([dataset[i] for i in range(4)])
    assert batch["pixel_values"].shape == (4, 3, 8, 8) and batch["labels"].tolist() == [0, 0, 1, 1]


def test_image_folder_stops_on_a_corrupt_file_when_asked(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    (root / "cat" / "readme.txt").write_text("not an image")
    with pytest.raises(BigModelError, match=r"readme\.txt: not an image"):
        image_folder(root, on_error="raise")


def test_image_folder_rejects_an_empty_class(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    (root / "emu").mkdir()
    with pytest.raises(BigModelError, match="class folder emu .* has no readable images"):
        image_folder(root)
    with pytest.raises(BigModelError, match="not found"):
        image_folder(tmp_path / "missing")


def test_preprocessor_round_trips_through_hf_json(tmp_path: Path) -> None:
    pre = ImagePreprocessor(size=8, crop_pct=1.0, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), resample="bilinear")
    pre.save_pretrained(tmp_path)
    again = ImagePreprocessor.from_pretrained(tmp_path)
    assert (again.size, again.crop_pct, again.mean, again.std, again.resample) == (8, 1.0, pre.mean, pre.std, 2)
    # the older layouts transformers also writes
    assert ImagePreprocessor.from_hf_dict({"size": {"height": 32, "width": 32}}).size == 32
    legacy = ImagePreprocessor.from_hf_dict({"size": 224, "crop_pct": 0.875, "feature_extractor_type": "X"})
    assert (legacy.size, legacy.crop_pct) == (224, 0.875)


def test_digits_split_is_seeded_stratified_and_30_percent() -> None:
    train_x, train_y = digit_images("train")
    test_x, test_y = digit_images("test")
    assert len(train_x) + len(test_x) == 1797 and len(test_x) == 540
    assert train_x[0].shape == (8, 8) and train_x[0].dtype == np.uint8
    assert np.bincount(test_y).min() >= 50  # every class held out in proportion
    assert digit_images("test")[1] == test_y  # same seed, same split
    item = digits_dataset("test")[0]
    assert item["pixel_values"].shape == (3, 8, 8) and item["labels"] == test_y[0]
