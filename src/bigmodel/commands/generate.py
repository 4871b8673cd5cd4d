"""`bigmodel generate`: continue a prompt with a GPT, or write a seq2seq Transformer's output for it
(greedy, sampling or beam search)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..devices import add_device_argument
from ..errors import BigModelError
from . import add_parser, positive_int, print_json
from .decoding_flags import add_decoding_flags, decoding_flag_values


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "generate",
        "continue a prompt with a GPT, or transduce it with a seq2seq Transformer: greedy, "
        "sampling (top-k/top-p/min-p) or beam search",
        '  bigmodel generate "Once upon a time" --model gpt2 --max-new-tokens 40\n'
        '  bigmodel generate "人工智能是一种" --model tiny-gpt-zh --top-p 0.9 --seed 1 --stream\n'
        '  bigmodel generate "The answer is" --num-beams 4 --length-penalty 1.2 --json\n'
        '  bigmodel generate "Q: hi\\nA:" --stop "\\n" --dtype bf16 --quantize int8\n'
        "  echo 'a prompt' | bigmodel generate - --json\n"
        '  bigmodel generate "23 MAR 1987" --model runs/seq2seq-dates --num-beams 4\n',
    )
    parser.add_argument("prompts", nargs="+", metavar="PROMPT", help="prompt text ('-' reads stdin)")
    parser.add_argument("-m", "--model", default="tiny-gpt-en",
                        help="preset, folder or HF id (default tiny-gpt-en, shipped; --model gpt2 for "
                             "OpenAI GPT-2 from the Hugging Face hub)")
    parser.add_argument("--tokenizer", help="tokenizer name or folder (default: the model's)")
    parser.add_argument("-n", "--max-new-tokens", type=int,
                        help="tokens to add (default: the model's generation_config.json, else 50)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--do-sample", dest="do_sample", action="store_true", default=None,
                      help="sample (on by default when a sampling option is given, or when the model's "
                      "generation_config.json says so, as the shipped tiny GPTs' do)")
    mode.add_argument("--greedy", dest="do_sample", action="store_false",
                      help="always take the argmax (the model's sampling and penalty defaults left out)")
    add_decoding_flags(parser)
    parser.add_argument("--stop", action="append", help="stop at this string (repeatable); not printed")
    parser.add_argument("--bad-words", action="append", metavar="WORD", help="never generate this (repeatable)")
    parser.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], help="run the model in this dtype")
    parser.add_argument("--quantize", choices=["int8"], help="int8 weight-only linear layers")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile a fixed-shape decoding step (first call compiles, ~20-45 s; "
                        "bf16 decoding about 1.4x faster than eager)")
    parser.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    parser.add_argument("--stream", action="store_true", help="print the text as it is generated")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_device_argument(parser)
    parser.set_defaults(func=run)


def _prompts(args: argparse.Namespace) -> list[str]:
    prompts = []
    for p in args.prompts:
        if p == "-":
            prompts.append(sys.stdin.read().rstrip("\n"))
        else:
            prompts.append(p.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    return prompts


def run(args: argparse.Namespace) -> int:
    import torch

    from ..tasks import generation

    if args.threads:
        torch.set_num_threads(args.threads)
    prompts = _prompts(args)
    options = dict(tokenizer=args.tokenizer, max_new_tokens=args.max_new_tokens, do_sample=args.do_sample,
                   stop=args.stop, bad_words=args.bad_words, dtype=args.dtype, quantize=args.quantize,
                   compile=args.compile, **decoding_flag_values(args))
    if args.stream:
        return _stream(args, prompts, options)
    results = generation.generate_detailed(prompts, args.model, **options)
    per_prompt = args.num_return_sequences
    if args.json:
        print_json([{"prompt": prompts[i // per_prompt], **r.to_dict()} for i, r in enumerate(results)])
        return 0
    echo = generation.continues_prompt(args.model)  # a seq2seq output is not a continuation
    for i, r in enumerate(results):
        if len(results) > 1:
            print(f"--- [{i}] {r.finish_reason}, {r.completion_tokens} tokens")
        print((prompts[i // per_prompt] if echo else "") + r.text)
    return 0


def _stream(args: argparse.Namespace, prompts: list[str], options: dict[str, Any]) -> int:
    """--stream: the deltas of one continuation as they come (JSON lines with --json)."""
    from ..tasks import generation

    if len(prompts) != 1:
        raise BigModelError("--stream takes one prompt")
    if args.num_beams != 1 or args.num_return_sequences != 1:
        raise BigModelError("--stream gives one continuation: drop --num-beams / --num-return-sequences")
    result: list[generation.GenerationResult] = []
    for delta in generation.stream(prompts[0], args.model, result=result, **options):
        if args.json:
            sys.stdout.write(json.dumps({"delta": delta}, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(delta)
        sys.stdout.flush()
    if args.json:
        sys.stdout.write(json.dumps({"prompt": prompts[0], **result[0].to_dict()}, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write("\n")
    return 0
