"""Detect objects with a ResNet: the shipped digits detector on canvases it has never seen.

    python docs/tutorials/detect_objects.py          # 500 held-out canvases, mAP, a 300-step training
    python docs/tutorials/detect_objects.py --tiny   # 10 canvases, a 10-step training

The same from the shell: ``bigmodel detect canvas.png --model tiny-detector-digits --out boxes.png``
and ``bigmodel detect --eval --data canvases/ --model tiny-detector-digits``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import bigmodel as bm
from bigmodel.data.detection import read_coco
from bigmodel.data.digit_canvases import CanvasSettings, write_canvases
from bigmodel.tasks.detection import draw_detections, evaluate_detection

MODEL = "tiny-detector-digits"  # ships inside the package, trained by configs/detector-digits.toml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", default=bool(os.environ.get("BIGMODEL_TUTORIAL_TINY")))
    args = parser.parse_args()
    folder = Path("detect-objects")  # canvases, boxes.png and the toy run land here

    # 1. Data: seeded 64×64 canvases with 1-4 digits each, boxes in a COCO-style JSON. This
    #    seed and the held-out 30% of the digits ("test") were never part of training.
    held_out = write_canvases(folder / "held-out", 10 if args.tiny else 500, seed=7,
                              settings=CanvasSettings(split="test")).parent
    coco = read_coco(held_out)
    first = coco.examples[0]
    truth = [coco.categories[label] for label in first.labels]
    print(f"{len(coco.examples)} canvases; the first holds the digits {', '.join(truth)}")

    # 2. One image: a path, a PIL image or an array -> [{"label", "score", "box"}], best first,
    #    boxes [x0, y0, x1, y1] in the image's own pixels.
    found = bm.detect(str(first.path), model=MODEL, threshold=0.5)
    for item in found:
        print(f"  {item['label']}  score {item['score']:.3f}  box {item['box']}")
    assert found and all(d["score"] >= 0.5 for d in found)
    drawn = draw_detections(str(first.path), found, folder / "boxes.png")
    print(f"boxes drawn in {drawn}")

    # 3. mAP on the held-out canvases: AP per class (COCO's 101-point interpolation), averaged;
    #    mAP@[.5:.95] also averages over IoU thresholds 0.50, 0.55, ..., 0.95.
    report = evaluate_detection(MODEL, held_out)
    print(f"mAP@0.5 {report['map_50']:.3f}   mAP@[.5:.95] {report['map']:.3f}   ({report['images']} canvases)")
    assert report["map_50"] > 0.8

    # 4. Training your own: the same Trainer as every family, [task] kind = "detection",
    #    data = a folder of images + annotations.json. A toy model here; the shipped one is
    #    `bigmodel train configs/detector-digits.toml`.
    train_data = write_canvases(folder / "train", 64 if args.tiny else 2000, seed=0).parent
    result = bm.train({
        "task": {"kind": "detection"},
        "model": {"config": {"embedding_size": 16, "hidden_sizes": [16, 32, 32], "depths": [1, 1, 1],
                             "neck_channels": 32, "head_channels": 32}},
        "data": {"path": str(train_data), "validation_path": str(held_out)},
        "train": {"out_dir": str(folder / "run"), "max_steps": 10 if args.tiny else 300, "batch_size": 16,
                  "lr": 3e-3, "warmup_steps": 5, "eval_every": 0, "eval_batches": 32, "progress": False,
                  "weight_decay": 0.0, "num_threads": 1},
    })
    val = result["validation"]
    print(f"after {result['step']} steps: validation loss {val['loss']:.3f}, mAP@0.5 {val['map_50']:.3f}")
    print(f"load it with bm.load({result['out_dir']!r})")


if __name__ == "__main__":
    main()
