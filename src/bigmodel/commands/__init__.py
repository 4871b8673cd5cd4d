"""One module per CLI verb; each has ``register(subparsers)``. See bigmodel/cli.py."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(subparsers: Any, name: str, help: str, examples: str) -> argparse.ArgumentParser:
    """A verb's parser with its examples shown by --help."""
    return subparsers.add_parser(
        name,
        help=help,
        description=help,
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def output_file(text: str) -> str:
    """argparse type: a file path that can be written (checked before any work starts)."""
    from ..errors import BigModelError
    from ..paths import check_output_file

    try:
        check_output_file(text, None)
    except BigModelError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def output_dir(text: str) -> str:
    """argparse type: a folder that can be created or written into."""
    from ..errors import BigModelError
    from ..paths import check_output_dir

    try:
        check_output_dir(text, None)
    except BigModelError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def read_text_file(path: str, flag: str) -> str:
    """The UTF-8 text of ``path`` ('-' = stdin); a missing, folder or non-UTF-8 path is one
    error line naming ``flag``."""
    from ..errors import BigModelError

    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise BigModelError(f"{flag}: no such file {path}") from None
    except IsADirectoryError:
        raise BigModelError(f"{flag}: {path} is a folder, not a text file") from None
    except UnicodeDecodeError as exc:
        raise BigModelError(f"{flag}: {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_text_lines(path: str, flag: str) -> list[str]:
    """:func:`read_text_file`'s lines, without their newlines."""
    lines = read_text_file(path, flag).split("\n")
    return lines[:-1] if lines[-1] == "" else lines
