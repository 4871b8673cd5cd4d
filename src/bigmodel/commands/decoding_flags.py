"""The decoding flags of `bigmodel generate` and `bigmodel chat`, made from GenerationOptions.

Each field of :class:`~bigmodel.decoding.options.GenerationOptions` with a help text and
``flag`` becomes ``--field-name`` (plus its short form), typed by the field's annotation and
defaulting to the field's default: a new decoding keyword is a new flag without an edit here.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from ..decoding.options import FLAG_OPTIONS


def early_stopping(text: str) -> bool | str:
    """argparse type of ``--early-stopping``: true, false or never."""
    choices = {"true": True, "false": False, "never": "never"}
    if text.lower() not in choices:
        raise argparse.ArgumentTypeError(f"expected true, false or never, got {text!r}")
    return choices[text.lower()]


# A field's annotation -> the argparse type that reads it.
_TYPES = {"int | None": int, "int": int, "float | None": float, "float": float, "bool | str": early_stopping}


def _chosen(names: Iterable[str] | None) -> list[Any]:
    if names is None:
        return list(FLAG_OPTIONS)
    wanted = set(names)
    return [f for f in FLAG_OPTIONS if f.name in wanted]


def add_decoding_flags(parser: argparse.ArgumentParser, names: Iterable[str] | None = None) -> None:
    """``--temperature``, ``-k/--top-k`` ...: every flagged decoding option, or those ``names``."""
    for option in _chosen(names):
        flags = [option.metadata["short"]] if option.metadata["short"] else []
        flags.append("--" + option.name.replace("_", "-"))
        parser.add_argument(*flags, type=_TYPES[str(option.type)], default=option.default,
                            help=option.metadata["help"])


def decoding_flag_values(args: argparse.Namespace, names: Iterable[str] | None = None) -> dict[str, Any]:
    """The parsed values of the flags :func:`add_decoding_flags` added, by option name."""
    return {option.name: getattr(args, option.name) for option in _chosen(names)}


__all__ = ["add_decoding_flags", "decoding_flag_values", "early_stopping"]
