"""Images in, tensors out: loading, the evaluation transform, training augmentation, datasets.

Pillow and numpy only (torchvision cannot be imported beside our torch). The evaluation
transform is transformers' ConvNextImageProcessor (what microsoft/resnet-* ship), step by step:

    image (any mode) -> RGB -> resize, shortest edge = int(size / crop_pct), aspect kept
        -> center crop (size, size) -> x / 255 in [0, 1] -> (x - mean) / std -> (3, size, size)

(with size >= 384 the image is resized straight to size × size and not cropped). Training
adds a random crop (pad by ``padding`` pixels, then crop back to size × size) and a random
horizontal flip before the tensor conversion. Its randomness comes from torch's global
generator, so a trainer that restores the RNG state replays the same augmentations.

The settings live in ``preprocessor_config.json`` beside the model, in transformers' format.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from ..errors import BigModelError
from ..fileio import atomic_write_text, read_json_object

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                              ".ppm", ".pgm", ".pbm", ".pnm", ".ico", ".jfif"})
PREPROCESSOR_FILE = "preprocessor_config.json"
_RESAMPLE_NAMES = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}

ImageSource = str | Path | Image.Image | np.ndarray


# --------------------------------------------------------------------------- loading


def load_image(source: ImageSource) -> Image.Image:
    """Any common image (path, PIL image, or (H, W[, C]) uint8 array) as an 8-bit RGB image.

    Grayscale is repeated over three channels; 16-bit and 32-bit integer images are scaled
    to 8 bits (65535 -> 255); float images are read as [0, 1] when they fit there;
    transparent pixels are composited onto white, as a viewer shows them; EXIF rotation
    is applied; an animation gives its first frame.
    """
    if isinstance(source, Image.Image):
        return to_rgb(source)
    if isinstance(source, np.ndarray):
        return to_rgb(_array_to_image(source))
    if not isinstance(source, (str, Path)):
        raise BigModelError(f"an image must be a path, a PIL image or a numpy array, got {type(source).__name__}")
    path = Path(source).expanduser()
    if not path.exists():
        raise BigModelError(f"image {str(source)!r} not found")
    if path.is_dir():
        raise BigModelError(f"image {str(source)!r} is a folder; pass image files")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                return to_rgb(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise BigModelError(f"{path}: not an image Pillow can read ({_reason(exc, path)})") from None


def _reason(exc: BaseException, path: Path) -> str:
    """The first line of Pillow's message, without the path it repeats."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.replace(f" {str(path)!r}", "").replace(f" {path.name!r}", "")


def _array_to_image(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise BigModelError(f"an image array must be (H, W), (H, W, 3) or (H, W, 4), got {array.shape}")
    return Image.fromarray(_to_uint8(array))


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale integer (8/16/32-bit) or float pixel values into 0..255."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        finite = np.nan_to_num(array.astype(np.float64))
        scale = 255.0 if finite.size and finite.max() <= 1.0 else 1.0
        return np.clip(finite * scale + 0.5, 0, 255).astype(np.uint8)
    values = array.astype(np.int64)
    if values.size and values.max() > 255:
        # 16-bit data (also when Pillow holds it in a 32-bit "I" image): 65535 -> 255
        return np.clip(values / 257.0 + 0.5, 0, 255).astype(np.uint8)
    return np.clip(values, 0, 255).astype(np.uint8)


def to_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of ``image`` whatever its mode (see :func:`load_image`)."""
    image = ImageOps.exif_transpose(image) or image
    mode = image.mode
    if mode == "RGB":
        return image.copy()
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return Image.fromarray(_to_uint8(np.asarray(image))).convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


# --------------------------------------------------------------------------- transforms


def resize_shortest_edge(image: Image.Image, edge: int, resample: int = Image.Resampling.BICUBIC) -> Image.Image:
    """Resize so that min(H, W) = ``edge``, keeping the aspect ratio (long side truncated)."""
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(edge * long / short)
    size = (edge, new_long) if width <= height else (new_long, edge)
    return image if size == image.size else image.resize(size, resample=resample)


def center_crop(image: Image.Image, height: int, width: int) -> Image.Image:
    """The central height × width window; a smaller image is padded with black first."""
    w, h = image.size
    if w < width or h < height:
        padded = Image.new("RGB", (max(w, width), max(h, height)))
        padded.paste(image, ((max(w, width) - w) // 2, (max(h, height) - h) // 2))
        image, (w, h) = padded, padded.size
    top, left = (h - height) // 2, (w - width) // 2
    return image.crop((left, top, left + width, top + height))


def _randint(high: int, rng: np.random.Generator | None) -> int:
    """Uniform in [0, high): from ``rng`` when given, else from torch's global generator."""
    if high <= 1:
        return 0
    return int(rng.integers(0, high)) if rng is not None else int(torch.randint(0, high, ()).item())


def random_crop(image: Image.Image, size: int, padding: int = 0, rng: np.random.Generator | None = None) -> Image.Image:
    """Pad every side by ``padding`` black pixels, then cut a random size × size window."""
    if padding > 0:
        image = ImageOps.expand(image, border=padding, fill=0)
    w, h = image.size
    top, left = _randint(h - size + 1, rng), _randint(w - size + 1, rng)
    return center_crop(image.crop((left, top, left + min(size, w), top + min(size, h))), size, size)


def random_horizontal_flip(image: Image.Image, p: float = 0.5, rng: np.random.Generator | None = None) -> Image.Image:
    if p <= 0:
        return image
    draw = float(rng.random()) if rng is not None else float(torch.rand(()).item())
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if draw < p else image


def to_tensor(image: Image.Image, mean: Sequence[float], std: Sequence[float],
              rescale_factor: float = 1 / 255) -> Tensor:
    """RGB image -> float32 (3, H, W): (x * rescale_factor - mean) / std per channel."""
    array = np.asarray(image, dtype=np.float32) * np.float32(rescale_factor)  # (H, W, 3) in [0, 1]
    array = (array - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


@dataclass
class ImagePreprocessor:
    """The evaluation transform, optionally followed by training augmentation.

    ``__call__(images)`` -> float32 (B, 3, size, size); ``transform(image)`` -> (3, size, size).
    Values: (pixel / 255 - mean) / std, so about [-2.2, 2.7] for ImageNet statistics.
    """

    size: int = 224  # the side of the square the model sees
    crop_pct: float = 0.875  # resize the shortest edge to size / crop_pct, then center-crop
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    resample: int = int(Image.Resampling.BICUBIC)
    rescale_factor: float = 1 / 255
    # training augmentation (used by train_transform only)
    padding: int = 0  # random crop: pad by this many pixels, crop back to size
    flip: float = 0.0  # probability of a horizontal flip
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # other HF keys, kept on save

    def __post_init__(self) -> None:
        if isinstance(self.resample, str):
            if self.resample.lower() not in _RESAMPLE_NAMES:
                raise BigModelError(f"resample must be one of {', '.join(_RESAMPLE_NAMES)}, got {self.resample!r}")
            self.resample = _RESAMPLE_NAMES[self.resample.lower()]
        self.mean, self.std = tuple(float(m) for m in self.mean), tuple(float(s) for s in self.std)
        if self.size < 1:
            raise BigModelError(f"image size must be a positive integer, got {self.size}")
        if not 0 < self.crop_pct <= 1:
            raise BigModelError(f"crop_pct must be in (0, 1], got {self.crop_pct}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise BigModelError(f"mean and std need 3 values each (std > 0), got {self.mean} and {self.std}")
        if not 0 <= self.flip <= 1 or self.padding < 0:
            raise BigModelError(f"flip must be a probability and padding >= 0, got {self.flip} and {self.padding}")

    def resized(self, image: ImageSource) -> Image.Image:
        """The RGB image the model sees, before it becomes a tensor (size × size)."""
        image = load_image(image)
        if self.size >= 384:
            return image.resize((self.size, self.size), resample=self.resample)
        image = resize_shortest_edge(image, int(self.size / self.crop_pct), self.resample)
        return center_crop(image, self.size, self.size)

    def transform(self, image: ImageSource) -> Tensor:
        return to_tensor(self.resized(image), self.mean, self.std, self.rescale_factor)

    def train_transform(self, image: ImageSource, rng: np.random.Generator | None = None) -> Tensor:
        """The evaluation transform with a random crop and flip (drawn from ``rng``, or torch)."""
        cropped = random_crop(self.resized(image), self.size, self.padding, rng)
        return to_tensor(random_horizontal_flip(cropped, self.flip, rng), self.mean, self.std, self.rescale_factor)

    def __call__(self, images: ImageSource | Iterable[ImageSource]) -> Tensor:
        if isinstance(images, (str, Path, Image.Image, np.ndarray)):
            images = [images]
        tensors = [self.transform(image) for image in images]
        if not tensors:
            raise BigModelError("no images given")
        return torch.stack(tensors)

    # ---- transformers' preprocessor_config.json

    def to_hf_dict(self) -> dict[str, Any]:
        return self.extra | {
            "image_processor_type": "ConvNextImageProcessor",
            "do_resize": True,
            "size": {"shortest_edge": self.size},
            "crop_pct": self.crop_pct,
            "resample": self.resample,
            "do_rescale": True,
            "rescale_factor": self.rescale_factor,
            "do_normalize": True,
            "image_mean": list(self.mean),
            "image_std": list(self.std),
        }

    @classmethod
    def from_hf_dict(cls, values: dict[str, Any]) -> ImagePreprocessor:
        """Read the ConvNext / ResNet layout (size.shortest_edge + crop_pct), or a plain
        ``size`` int, or ``{"height", "width"}`` with an optional ``crop_size``."""
        size = values.get("size", 224)
        crop = values.get("crop_size") if values.get("do_center_crop", "crop_size" in values) else None
        if isinstance(size, dict) and "shortest_edge" in size:
            edge, crop_pct = int(size["shortest_edge"]), float(values.get("crop_pct") or 0.875)
            if isinstance(crop, dict) and "height" in crop:  # CLIP-style: resize edge, crop crop_size
                crop_pct, edge = min(1.0, crop["height"] / edge), int(crop["height"])
        elif isinstance(size, dict) and "height" in size:
            if size["height"] != size.get("width", size["height"]):
                raise BigModelError(f"{PREPROCESSOR_FILE}: only square sizes are supported, got {size}")
            edge, crop_pct = int(size["height"]), 1.0
            if isinstance(crop, dict) and "height" in crop:
                crop_pct, edge = crop["height"] / edge, int(crop["height"])
        elif isinstance(size, int):
            edge, crop_pct = size, float(values.get("crop_pct") or 0.875)
        else:
            raise BigModelError(f"{PREPROCESSOR_FILE}: cannot read size {size!r}")
        known = {"size", "crop_pct", "image_mean", "image_std", "resample", "rescale_factor", "crop_size",
                 "do_center_crop", "image_processor_type", "feature_extractor_type", "do_resize",
                 "do_rescale", "do_normalize"}
        return cls(
            size=edge,
            crop_pct=crop_pct,
            mean=tuple(values.get("image_mean", IMAGENET_MEAN)) if values.get("do_normalize", True) else (0.0,) * 3,
            std=tuple(values.get("image_std", IMAGENET_STD)) if values.get("do_normalize", True) else (1.0,) * 3,
            resample=int(values.get("resample", Image.Resampling.BICUBIC)),
            rescale_factor=float(values.get("rescale_factor", 1 / 255)) if values.get("do_rescale", True) else 1.0,
            extra={k: v for k, v in values.items() if k not in known},
        )

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> ImagePreprocessor:
        """The folder's preprocessor_config.json, or ImageNet defaults when it has none."""
        path = Path(directory) / PREPROCESSOR_FILE
        if not path.is_file():
            logger.warning("%s has no %s: using ImageNet defaults (224, crop 0.875)", directory, PREPROCESSOR_FILE)
            return cls()
        return cls.from_hf_dict(read_json_object(path, "preprocessor config"))

    def save_pretrained(self, directory: str | Path) -> Path:
        text = json.dumps(self.to_hf_dict(), indent=2, sort_keys=True) + "\n"
        return atomic_write_text(Path(directory) / PREPROCESSOR_FILE, text)


# --------------------------------------------------------------------------- datasets


class ImageClassificationDataset(torch.utils.data.Dataset):
    """(image, label) pairs -> ``{"pixel_values": (3, S, S), "labels": int}``.

    ``train=True`` applies the preprocessor's random crop and flip.
    """

    def __init__(self, items: Sequence[tuple[ImageSource, int]], classes: Sequence[str],
                 preprocessor: ImagePreprocessor, train: bool = False) -> None:
        self.items = list(items)
        self.classes = list(classes)
        self.preprocessor = preprocessor
        self.train = train

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.classes))

    @property
    def labels(self) -> list[int]:
        return [label for _, label in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        source, label = self.items[index]
        transform = self.preprocessor.train_transform if self.train else self.preprocessor.transform
        return {"pixel_values": transform(source), "labels": label}


def collate_images(items: Sequence[dict[str, Any]], rng: Any = None) -> dict[str, Tensor]:
    """A list of dataset items -> ``pixel_values`` (B, 3, S, S) and ``labels`` (B,)."""
    return {"pixel_values": torch.stack([item["pixel_values"] for item in items]),
            "labels": torch.tensor([int(item["labels"]) for item in items], dtype=torch.long)}


def image_folder(root: str | Path, preprocessor: ImagePreprocessor | None = None, *, train: bool = False,
                 on_error: str = "skip", progress: bool = False) -> ImageClassificationDataset:
    """A dataset from ``root/<class>/<image>``: one subfolder per class, sorted by name.

    Every file is opened and checked once here. A file that is not a readable image is
    named in a warning and left out (``on_error="skip"``) or stops with an error naming
    it (``on_error="raise"``); the names left out are in ``dataset.skipped``. A class
    folder without images is an error: a class no example teaches cannot be learned.
    """
    if on_error not in ("skip", "raise"):
        raise BigModelError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise BigModelError(f"image folder {str(root)!r} not found (expected one subfolder per class)")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise BigModelError(f"image folder {root} has no class subfolders (expected {root}/<class>/<image>)")
    files = [(path, label) for label, folder in enumerate(class_dirs)
             for path in sorted(folder.rglob("*")) if path.is_file() and not path.name.startswith(".")]
    items: list[tuple[ImageSource, int]] = []
    skipped: list[tuple[Path, str]] = []
    from tqdm.auto import tqdm

    for path, label in tqdm(files, desc="checking images", unit="img", disable=not progress, leave=False):
        problem = _check_image(path)
        if problem is None:
            items.append((path, label))
            continue
        if on_error == "raise":
            raise BigModelError(f"{path}: {problem} (pass on_error='skip' to leave such files out)")
        logger.warning("skipping %s: %s", path, problem)
        skipped.append((path, problem))
    counts = np.bincount([label for _, label in items], minlength=len(class_dirs))
    empty = [class_dirs[i].name for i in range(len(class_dirs)) if counts[i] == 0]
    if empty:
        raise BigModelError(f"class folder{'s' if len(empty) > 1 else ''} {', '.join(empty)} in {root} "
                            f"{'have' if len(empty) > 1 else 'has'} no readable images")
    dataset = ImageClassificationDataset(items, [d.name for d in class_dirs], preprocessor or ImagePreprocessor(), train)
    dataset.skipped = skipped  # type: ignore[attr-defined]
    return dataset


def _check_image(path: Path) -> str | None:
    """None when Pillow can decode ``path``; otherwise why not, in a few words."""
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        try:
            with Image.open(path) as image:
                image.verify()
        except Exception:  # noqa: BLE001 - anything Pillow cannot open is "not an image"
            return f"not an image (extension {path.suffix or 'none'})"
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
    except Exception as exc:  # noqa: BLE001 - any decoder failure means the file is unusable
        return f"not an image Pillow can read ({_reason(exc, path)})"
    return None


def digit_images(split: str = "train", *, test_size: float = 0.3, seed: int = 0) -> tuple[list[np.ndarray], list[int]]:
    """scikit-learn's 1,797 8×8 handwritten digits as uint8 images (ink bright on black).

    The split is stratified and seeded: ``test_size`` of every class is held out.
    """
    if split not in ("train", "test", "all"):
        raise BigModelError(f"digits split must be 'train', 'test' or 'all', got {split!r}")
    if not 0 < test_size < 1:
        raise BigModelError(f"test_size must be between 0 and 1, got {test_size}")
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise BigModelError("the digits dataset needs scikit-learn, in the data extra: "
                            "pip install \"bigmodel[data]\"") from None
    digits = load_digits()
    # values 0..16 -> 0..255
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    labels = digits.target.astype(int)
    if split == "all":
        return list(images), labels.tolist()
    train_x, test_x, train_y, test_y = train_test_split(images, labels, test_size=test_size, random_state=seed,
                                                        stratify=labels)
    return (list(train_x), train_y.tolist()) if split == "train" else (list(test_x), test_y.tolist())


def digits_dataset(split: str = "train", preprocessor: ImagePreprocessor | None = None, *, train: bool | None = None,
                   test_size: float = 0.3, seed: int = 0) -> ImageClassificationDataset:
    """The digits as a dataset; classes "0".."9". Augmented when ``train`` (default: split == "train")."""
    images, labels = digit_images(split, test_size=test_size, seed=seed)
    preprocessor = preprocessor or ImagePreprocessor(size=8, crop_pct=1.0, mean=(0.5,) * 3, std=(0.5,) * 3)
    augment = split == "train" if train is None else train
    return ImageClassificationDataset(list(zip(images, labels, strict=True)), [str(d) for d in range(10)],
                                      preprocessor, augment)


def mean_std(dataset: ImageClassificationDataset, limit: int = 2000) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of up to ``limit`` images after resizing (for normalization)."""
    pre = dataset.preprocessor
    arrays = [np.asarray(pre.resized(source), dtype=np.float64) * pre.rescale_factor
              for source, _ in dataset.items[:limit]]
    stacked = np.stack(arrays).reshape(-1, 3)
    return tuple(stacked.mean(0).round(4).tolist()), tuple(np.maximum(stacked.std(0), 1e-3).round(4).tolist())


__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageClassificationDataset",
    "ImagePreprocessor",
    "center_crop",
    "collate_images",
    "digit_images",
    "digits_dataset",
    "image_folder",
    "load_image",
    "mean_std",
    "random_crop",
    "random_horizontal_flip",
    "resize_shortest_edge",
    "to_rgb",
    "to_tensor",
]
