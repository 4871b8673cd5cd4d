"""`bigmodel classify-image`: top-k labels for image files with an image classifier."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..devices import add_device_argument
from ..errors import BigModelError
from . import add_parser, output_file, positive_int, print_json


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "classify-image",
        "classify images with a ResNet (top-k labels with probabilities); "
        "--eval scores a labelled image folder instead",
        "  bigmodel classify-image digit.png --model tiny-resnet-digits\n"
        "  bigmodel classify-image photos/*.jpg --model microsoft/resnet-50 --top-k 3 --json\n"
        "  bigmodel classify-image --eval test_images/ --model runs/resnet-digits --plot confusion.png\n"
        "  bigmodel classify-image --eval digits --model tiny-resnet-digits\n",
    )
    parser.add_argument("files", nargs="*", help="image files (any format Pillow reads)")
    parser.add_argument("-m", "--model", required=True, help="image classifier: shipped name, folder or HF id")
    parser.add_argument("-k", "--top-k", type=positive_int, default=5, help="labels per image (default 5)")
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--dtype", choices=["fp32", "bf16"], help="run the model in this precision")
    parser.add_argument("--eval", metavar="FOLDER",
                        help='evaluate on FOLDER/<class>/<image> (or "digits": the held-out digits)')
    parser.add_argument("--on-error", choices=["skip", "raise"], default="skip",
                        help="--eval: an unreadable image is skipped with a warning, or stops the run")
    parser.add_argument("--plot", type=output_file, help="--eval: write the confusion matrix as a PNG here")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_device_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.eval:
        return _evaluate(args)
    from ..tasks.image_classification import classify_image

    if not args.files:
        raise BigModelError("give at least one image file (or --eval FOLDER)")
    for name in args.files:
        if not Path(name).is_file():
            raise BigModelError(f"image {name!r} not found" if not Path(name).exists() else f"{name} is not a file")
    results = classify_image(list(args.files), args.model, top_k=args.top_k, batch_size=args.batch_size,
                             dtype=args.dtype, progress=len(args.files) > 64)
    if args.json:
        print_json([{"file": name, "labels": ranked} for name, ranked in zip(args.files, results, strict=True)])
        return 0
    for name, ranked in zip(args.files, results, strict=True):
        shown = "  ".join(f"{r['label']} {r['score']:.3f}" for r in ranked)
        print(f"{name}: {shown}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from ..metrics import format_report
    from ..tasks.image_classification import evaluate_images

    if args.files:
        raise BigModelError("--eval scores a folder; leave out the image files")
    report = evaluate_images(args.model, args.eval, batch_size=args.batch_size, on_error=args.on_error,
                             plot=args.plot, progress=True)
    if args.json:
        print_json(report)
        return 0
    print(format_report(report))
    for path in report.get("skipped", []):
        print(f"skipped (not a readable image): {path}")
    if args.plot:
        print(f"confusion matrix written to {report['plot']}")
    return 0
