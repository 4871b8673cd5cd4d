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


def _early_stopping(text: str) -> bool | str:
    choices = {"true": True, "false": False, "never": "never"}
    if text.lower() not in choices:
        raise argparse.ArgumentTypeError(f"expected true, false or never, got {text!r}")
    return choices[text.lower()]


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
    parser.add_argument("--min-new-tokens", type=int, help="no end-of-text before this many new tokens")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--do-sample", dest="do_sample", action="store_true", default=None,
                      help="sample (on by default when a sampling option is given, or when the model's "
                      "generation_config.json says so, as the shipped tiny GPTs' do)")
    mode.add_argument("--greedy", dest="do_sample", action="store_false",
                      help="always take the argmax (the model's sampling and penalty defaults left out)")
    parser.add_argument("--temperature", type=float, help="divide the logits by T (0 = greedy)")
    parser.add_argument("-k", "--top-k", type=int, help="sample from the k most likely tokens (0 = off)")
    parser.add_argument("--top-p", type=float, help="nucleus sampling: smallest set with mass >= p")
    parser.add_argument("--min-p", type=float, help="drop tokens below min_p x the top probability")
    parser.add_argument("--repetition-penalty", type=float, help="CTRL penalty for seen tokens (>1)")
    parser.add_argument("--no-repeat-ngram-size", type=int, help="never repeat an n-gram of this size")
    parser.add_argument("--num-beams", type=int, default=1, help="beam search with this many beams")
    parser.add_argument("--length-penalty", type=float, default=1.0, help="beam score / length**this")
    parser.add_argument("--early-stopping", type=_early_stopping, default=False, help="true, false or never")
    parser.add_argument("--num-return-sequences", type=int, default=1, help="continuations per prompt")
    parser.add_argument("--stop", action="append", help="stop at this string (repeatable); not printed")
    parser.add_argument("--bad-words", action="append", metavar="WORD", help="never generate this (repeatable)")
    parser.add_argument("--seed", type=int, help="seed for reproducible sampling")
    parser.add_argument("--max-time", type=float, help="stop after this many seconds")
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
    options = dict(
        tokenizer=args.tokenizer, max_new_tokens=args.max_new_tokens, min_new_tokens=args.min_new_tokens,
        do_sample=args.do_sample,
        temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p,
        repetition_penalty=args.repetition_penalty, no_repeat_ngram_size=args.no_repeat_ngram_size,
        stop=args.stop, seed=args.seed, max_time=args.max_time, dtype=args.dtype,
        quantize=args.quantize, compile=args.compile,
    )
    if args.stream:
        if len(prompts) != 1:
            raise BigModelError("--stream takes one prompt")
        if args.num_beams != 1 or args.num_return_sequences != 1:
            raise BigModelError("--stream gives one continuation: drop --num-beams / --num-return-sequences")
        result: list[generation.GenerationResult] = []
        deltas = generation.stream(prompts[0], args.model, result=result, bad_words=args.bad_words, **options)
        for delta in deltas:
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
    results = generation.generate_detailed(
        prompts, args.model, bad_words=args.bad_words, num_beams=args.num_beams, length_penalty=args.length_penalty,
        early_stopping=args.early_stopping, num_return_sequences=args.num_return_sequences, **options)
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
