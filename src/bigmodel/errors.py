"""The one exception type for a user's mistake.

Anything a user can get wrong (a path, an argument, a file) raises :class:`BigModelError`
with one line that names the argument and what was expected. The CLI prints that line
and exits with code 2; the server answers 4xx. Any other exception is a bug.
"""

from __future__ import annotations


class BigModelError(ValueError):
    """A user's mistake, explained in one line (which argument, what was expected)."""


def closest(name: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The closest of ``choices`` to ``name`` (for "did you mean ...?"), or None."""
    import difflib

    matches = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """' (did you mean "x"?)' or '' when nothing is close."""
    match = closest(name, choices)
    return f' (did you mean "{match}"?)' if match else ""
