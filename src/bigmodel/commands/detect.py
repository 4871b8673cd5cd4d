"""`bigmodel detect`: boxes, labels and scores in an image; --eval scores mAP on COCO-style data."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..devices import add_device_argument
from ..errors import BigModelError
from . import add_parser, output_file, positive_int, print_json


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text}")
    return value


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "detect",
        "find objects in an image with a detector (label, score, box [x0, y0, x1, y1] in pixels); "
        "--eval scores mAP@0.5 and mAP@[.5:.95] on a COCO-style data set instead",
        "  bigmodel detect canvas.png --model tiny-detector-digits\n"
        "  bigmodel detect canvas.png --model tiny-detector-digits --threshold 0.3 --out boxes.png --json\n"
        "  bigmodel detect --eval --data runs/data/digit-canvases/val --model tiny-detector-digits\n",
    )
    parser.add_argument("image", nargs="?", help="an image file (any format Pillow reads)")
    parser.add_argument("--model", required=True, help="detector: shipped name or folder")
    parser.add_argument("--threshold", type=_threshold, default=0.5,
                        help="keep detections with at least this score (default 0.5)")
    parser.add_argument("--max-detections", type=positive_int, help="at most this many boxes (default: the model's)")
    parser.add_argument("--out", type=output_file, help="write the image with its boxes and labels drawn, as PNG")
    parser.add_argument("--eval", action="store_true", help="evaluate on --data instead of detecting in IMAGE")
    parser.add_argument("--data", help="--eval: a folder with annotations.json, or the COCO JSON file")
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_device_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.eval:
        return _evaluate(args)
    from ..tasks.detection import detect, draw_detections

    path = _image_path(args)
    found = detect(str(path), args.model, threshold=args.threshold, max_detections=args.max_detections,
                   device=args.device)
    if args.out:
        draw_detections(str(path), found, args.out)
    if args.json:
        print_json({"file": args.image, "detections": found} | ({"out": args.out} if args.out else {}))
        return 0
    _print_detections(args, found)
    return 0


def _image_path(args: argparse.Namespace) -> Path:
    """IMAGE, checked to be a non-empty file (and that no --eval flag came with it)."""
    if args.data:
        raise BigModelError("--data goes with --eval; to detect in one image give IMAGE")
    if not args.image:
        raise BigModelError("give an image file (or --eval --data FOLDER)")
    path = Path(args.image)
    if not path.exists():
        raise BigModelError(f"image {args.image!r} not found")
    if not path.is_file():
        raise BigModelError(f"image {args.image!r} is not a file")
    if path.stat().st_size == 0:
        raise BigModelError(f"image {args.image!r} is an empty (0-byte) file")
    return path


def _print_detections(args: argparse.Namespace, found: list[dict[str, Any]]) -> None:
    if not found:
        print(f"{args.image}: nothing found with score >= {args.threshold}")
    for item in found:
        box = ", ".join(f"{v:.1f}" for v in item["box"])
        print(f"{item['label']}\t{item['score']:.3f}\t[{box}]")
    if args.out:
        print(f"boxes drawn in {args.out}")


def _evaluate(args: argparse.Namespace) -> int:
    from ..tasks.detection import evaluate_detection, format_detection_report

    if args.image:
        raise BigModelError("--eval scores --data; leave out IMAGE")
    if not args.data:
        raise BigModelError("--eval needs --data: a folder with annotations.json or a COCO JSON file")
    report = evaluate_detection(args.model, args.data, batch_size=args.batch_size)
    if args.json:
        print_json(report)
        return 0
    print(format_detection_report(report))
    return 0
