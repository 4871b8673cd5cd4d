"""`bigmodel eval`: a classifier on a labelled file, or a language model's perplexity."""

from __future__ import annotations

import argparse
from typing import Any

from ..devices import add_device_argument
from . import add_parser, output_file, positive_int, print_json


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "eval",
        "evaluate a classifier on a labelled CSV/TSV/JSONL file (accuracy, per-class P/R/F1, "
        "macro-F1, confusion matrix), or a GPT's perplexity on a text file",
        "  bigmodel eval --model runs/sentiment-zh/full --data test.csv --plot confusion.png\n"
        "  bigmodel eval --model runs/sentiment-zh/lora --data test.jsonl --label-column y --json\n"
        "  bigmodel eval --model tiny-gpt-zh --data held_out.txt --window 256 --stride 128\n",
    )
    parser.add_argument("-m", "--model", required=True, help="classifier folder, or a GPT for perplexity")
    parser.add_argument("--data", required=True, help="labelled file (.csv/.tsv/.jsonl) or, for a GPT, a text file")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--text-pair-column", default="text_pair", help="second text of a pair, when the file has it")
    parser.add_argument("--skip-empty", action="store_true", help="drop rows with an empty text instead of refusing")
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--max-length", type=positive_int, help="truncate texts to this many tokens")
    parser.add_argument("--long-texts", choices=("truncate", "windows"),
                        help="a text longer than the model's context: truncate it, or read it as windows "
                             "(mean logits); default: as the model was fine-tuned")
    parser.add_argument("--plot", type=output_file, help="write the confusion matrix as a PNG here")
    parser.add_argument("--window", type=positive_int, help="perplexity: tokens per window (default: the context)")
    parser.add_argument("--stride", type=positive_int, help="perplexity: step between windows (default: window/2)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_device_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..metrics import format_report
    from ..tasks.common import get_model
    from ..tasks.evaluation import evaluate_classifier, evaluate_perplexity, format_confusion_matrix

    adapter_only = _is_adapter_folder(args.model)
    if not adapter_only:
        from ..tasks.span_evaluation import evaluate_span_task, format_span_report

        span_report = evaluate_span_task(args.model, args.data)  # None unless a QA or NER model
        if span_report is not None:
            if args.json:
                print_json(span_report)
            else:
                print(format_span_report(span_report))
            return 0
    if not adapter_only and get_model(args.model).architecture == "GPT2LMHeadModel":
        result = evaluate_perplexity(args.model, args.data, window=args.window, stride=args.stride, progress=True)
        if args.json:
            print_json(result)
        else:
            print(f"perplexity {result['perplexity']:.3f}  (mean NLL {result['mean_nll']:.4f} nats over "
                  f"{result['tokens']} tokens, window {result['window']}, stride {result['stride']})")
        return 0
    report = evaluate_classifier(args.model, args.data, text_column=args.text_column, label_column=args.label_column,
                                 text_pair_column=args.text_pair_column, skip_empty=args.skip_empty,
                                 batch_size=args.batch_size, max_length=args.max_length,
                                 long_texts=args.long_texts, plot=args.plot, progress=True)
    if args.json:
        print_json(report)
    else:
        table = format_report(report)
        print(table)
        if "confusion matrix" not in table:
            print()
            print(format_confusion_matrix(report))
        if args.plot:
            print(f"confusion matrix written to {report['plot']}")
    return 0


def _is_adapter_folder(model: str) -> bool:
    from pathlib import Path

    folder = Path(model)
    return (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file()
