"""Classify handwritten digits with the shipped tiny-resnet-digits (for `make demo`).

Writes a few held-out digits (never seen in training) as PNG files to a temporary folder,
then classifies the files, as a user would with `bigmodel classify-image FILES --model M`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from PIL import Image

from bigmodel.data.images import digit_images
from bigmodel.tasks.image_classification import classify_image


def classify_digits(count: int = 6, model: str = "tiny-resnet-digits") -> None:
    images, labels = digit_images("test")
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(count):
            path = Path(folder) / f"digit-{i}.png"
            # 8×8 pixels, ink bright on black, shown 4× larger; the model's preprocessing resizes back
            Image.fromarray(images[i]).resize((32, 32), Image.Resampling.NEAREST).save(path)
            paths.append(path)
        results = classify_image(paths, model=model, top_k=2)
        for path, truth, ranked in zip(paths, labels[:count], results, strict=True):
            best, second = ranked
            mark = "ok" if best["label"] == str(truth) else "WRONG"
            print(f"   {path.name}: true {truth}  predicted {best['label']} ({best['score']:.3f}), "
                  f"next {second['label']} ({second['score']:.3f})  {mark}")


if __name__ == "__main__":
    classify_digits()
