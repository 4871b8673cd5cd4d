"""Classify images with ResNet: the shipped digits model on held-out handwritten digits.

    python docs/tutorials/classify_images.py          # all 540 held-out digits + a confusion matrix
    python docs/tutorials/classify_images.py --tiny   # 20 digits, no plot

The same from the shell: ``bigmodel classify-image digit.png --model tiny-resnet-digits`` and
``bigmodel classify-image --eval digits --model tiny-resnet-digits --plot confusion.png``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from bigmodel.data.images import digit_images
from bigmodel.tasks.image_classification import classify_image, evaluate_images

MODEL = "tiny-resnet-digits"  # ships inside the package: 308,650 parameters, 8×8 grey digits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", default=bool(os.environ.get("BIGMODEL_TUTORIAL_TINY")))
    args = parser.parse_args()
    images, labels = digit_images("test")  # the 30% the model never saw in training (seed 0)
    if args.tiny:
        images, labels = images[:20], labels[:20]

    # 1. One image: a path, a PIL image or an (H, W[, C]) array; top-k labels with p(label | image).
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "digit.png"
        Image.fromarray(images[0]).save(path)
        top = classify_image(str(path), MODEL, top_k=3)
    print(f"digit.png (a {labels[0]}):", ", ".join(f"{p['label']} {p['score']:.3f}" for p in top))

    # 2. A batch of arrays: one list per image. Accuracy is the share of top-1 labels that match.
    predictions = classify_image(images, MODEL, top_k=1)
    correct = sum(int(p[0]["label"]) == y for p, y in zip(predictions, labels, strict=True))
    print(f"accuracy on {len(labels)} held-out digits: {correct / len(labels):.2%}")
    assert correct / len(labels) > 0.9

    # 3. The full evaluation: accuracy, per-class precision/recall/F1, the confusion matrix.
    if not args.tiny:
        report = evaluate_images(MODEL, "digits", plot="confusion.png")
        print(f"evaluate_images: accuracy {report['accuracy']:.2%} (confusion matrix in confusion.png)")
        print(np.array(report["confusion_matrix"]))


if __name__ == "__main__":
    main()
