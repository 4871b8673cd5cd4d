"""`bigmodel <verb>`: the command line.

Each verb lives in ``bigmodel/commands/<verb>.py`` with a ``register(subparsers)`` that adds
its parser and sets ``func``; the function calls one task in ``tasks/`` or ``train/``. A
user's mistake (a :class:`BigModelError`, or a bad argument) prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

from .errors import BigModelError

# One module per verb (or group of verbs) under bigmodel.commands.
COMMAND_MODULES = [
    "models",
    "plan",
    "explain",
    "embed",
    "classify",
    "classify_image",
    "detect",
    "answer",
    "tag",
    "evaluate",
    "generate",
    "chat",
    "fill_mask",
    "tokenizer",
    "prepare",
    "train",
    "serve",
    "tune",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        self.exit(2, f"error: {self.prog}: {message}\n")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        # argparse fills a nargs="*" positional once, so words of it after a flag are left over;
        # a verb's claim_extra_words(args, left_over, all_words) takes back its own (train's
        # key=value) and returns the rest.
        namespace, extras = super().parse_known_args(args, namespace)
        claim = getattr(namespace, "claim_extra_words", None)
        if claim is not None and extras:
            extras = claim(namespace, extras, list(sys.argv[1:] if args is None else args))
        return namespace, extras


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bigmodel",
        description="Learn, train and run the Transformer, BERT, GPT and ResNet.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"bigmodel {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="VERB", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"bigmodel.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("BIGMODEL_KERNEL_NOTICE", "1")  # announce kernel measurements (nn/kernel_choice.py)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if getattr(args, "device", None) is not None:
            from .devices import set_default_device

            set_default_device(args.device)  # models loaded by name go there (bigmodel/devices.py)
        return int(args.func(args) or 0)
    except BigModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `bigmodel ... | head` closed the pipe: not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        # A name the OS cannot look up, wherever a verb opens it: the user's mistake too.
        from .paths import too_long_error

        error = too_long_error(exc)
        if error is None:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
