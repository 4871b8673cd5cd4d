"""`bigmodel answer`: the span of a context that answers a question (extractive QA)."""

from __future__ import annotations

import argparse
from typing import Any

from ..devices import add_device_argument
from . import add_parser, positive_int, print_json, read_text_file


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "answer",
        "answer a question with a span of a context (a BertForQuestionAnswering model)",
        '  bigmodel answer --question "Who created the heaven?" --context "In the beginning God '
        'created the heaven." --model runs/qa\n'
        "  bigmodel answer --question \"Where did they go?\" --context-file story.txt --model runs/qa "
        "--top-k 3 --json\n",
    )
    parser.add_argument("--question", required=True, help="the question")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--context", help="the text that holds the answer")
    source.add_argument("--context-file", metavar="F", help="read the context from this UTF-8 file ('-' = stdin)")
    parser.add_argument("-m", "--model", required=True, help="question-answering model folder (from bigmodel train)")
    parser.add_argument("-k", "--top-k", type=positive_int, default=1, help="show the k best spans (default 1)")
    parser.add_argument("--max-seq-len", type=positive_int, default=384,
                        help="tokens per window of question + context (default 384)")
    parser.add_argument("--doc-stride", type=int, default=128,
                        help="context tokens consecutive windows share (default 128)")
    parser.add_argument("--max-answer-len", type=positive_int, default=15,
                        help="longest answer in tokens (default 15)")
    parser.add_argument("--json", action="store_true", help="print {answer, score, start, end} as JSON")
    add_device_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..tasks.question_answering import answer

    context = args.context if args.context is not None else read_text_file(args.context_file, "--context-file")
    result = answer(args.question, context, args.model, top_k=args.top_k, max_seq_len=args.max_seq_len,
                    doc_stride=args.doc_stride, max_answer_len=args.max_answer_len)
    if args.json:
        print_json(result)
        return 0
    for item in result if isinstance(result, list) else [result]:
        print(f"{item['answer']}\t{item['score']:.4f}\t[{item['start']}:{item['end']}]")
    return 0
