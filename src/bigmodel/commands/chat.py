"""`bigmodel chat`: a multi-turn conversation with a GPT on the terminal (or piped stdin)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..decoding.options import SAMPLING_KNOBS
from ..devices import add_device_argument
from ..errors import BigModelError
from . import add_parser, positive_int
from .decoding_flags import add_decoding_flags, decoding_flag_values

RESET, EXIT = "/reset", "/exit"
# A reply streams: sampling knobs, penalties and the seed apply; beams and n do not.
CHAT_OPTIONS = (*SAMPLING_KNOBS, "repetition_penalty", "seed")


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "chat",
        "talk with a GPT, turn by turn: each line you type is a message, the reply streams back "
        f"({RESET} starts over, {EXIT} or end of input quits)",
        "  bigmodel chat -m tiny-gpt-en\n"
        '  bigmodel chat -m tiny-gpt-zh --system "你是一个助手。" --temperature 0.7 -n 100\n'
        "  printf 'hello\\nhow are you?\\n' | bigmodel chat -m tiny-gpt-en --greedy -n 20\n",
    )
    parser.add_argument("-m", "--model", default="tiny-gpt-en",
                        help="preset, folder or HF id of a GPT (default tiny-gpt-en, shipped)")
    parser.add_argument("--tokenizer", help="tokenizer name or folder (default: the model's)")
    parser.add_argument("--system", help="a system message that starts the conversation")
    parser.add_argument("-n", "--max-new-tokens", type=positive_int, default=200,
                        help="longest reply in tokens (default 200)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--do-sample", dest="do_sample", action="store_true", default=None,
                      help="sample (on by default when a sampling option is given)")
    mode.add_argument("--greedy", dest="do_sample", action="store_false", help="always take the argmax")
    add_decoding_flags(parser, CHAT_OPTIONS)
    parser.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], help="run the model in this dtype")
    parser.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    add_device_argument(parser)
    parser.set_defaults(func=run)


def _lines(interactive: bool) -> Any:
    """The user's messages, one per line, until EOF."""
    while True:
        if interactive:
            try:
                line = input(">> ")
            except EOFError:
                return
        else:
            line = sys.stdin.readline()
            if not line:
                return
        yield line.rstrip("\r\n")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..tasks.chat import Conversation, read_chat_template
    from ..tasks.common import get_tokenizer
    from ..tasks.generation import continues_prompt, load_generator, stream

    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_generator(args.model, dtype=args.dtype)
    if not continues_prompt(model):
        raise BigModelError(f"--model {args.model}: chat needs a decoder-only GPT; this is an encoder-decoder")
    tokenizer = get_tokenizer(args.model, args.tokenizer)
    conversation = Conversation(tokenizer, read_chat_template(args.model), int(model.config.max_seq_len),
                                args.system)
    sampling = dict(do_sample=args.do_sample, **decoding_flag_values(args, CHAT_OPTIONS))
    interactive = sys.stdin.isatty()
    for line in _lines(interactive):
        command = line.strip()
        if not command:
            continue
        if command == EXIT:
            break
        if command == RESET:
            conversation.reset()
            print("(a new conversation)", file=sys.stderr, flush=True)
            continue
        conversation.add("user", line)
        prompt, stops = conversation.prompt(room=args.max_new_tokens)
        reply = ""
        for delta in stream(prompt, model, tokenizer, max_new_tokens=args.max_new_tokens, stop=stops,
                            **sampling):
            if not reply:
                delta = delta.lstrip()  # the model's first word comes with its separating space
            if delta:
                reply += delta
                sys.stdout.write(delta)
                sys.stdout.flush()
        sys.stdout.write("\n")
        sys.stdout.flush()
        conversation.add("assistant", reply.strip())
    return 0
