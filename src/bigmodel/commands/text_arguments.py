"""The texts a verb works on: its positional arguments, then one per line of ``--file``."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import BigModelError
from . import read_text_lines


def texts_from_arguments(texts: Sequence[str], file: str | None, *, skip_empty: bool) -> list[str]:
    """``texts`` followed by the lines of ``file`` ('-' = stdin; see read_text_file for its
    errors). ``skip_empty`` strips each line and drops the empty ones (classify); without it
    line i of the file is text i of the output (embed). No text at all is an error."""
    lines = read_text_lines(file, "--file") if file else []
    if skip_empty:
        lines = [line.strip() for line in lines if line.strip()]
    found = [*texts, *lines]
    if not found:
        raise BigModelError("give at least one text (arguments or --file)")
    return found
