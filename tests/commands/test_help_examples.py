"""Every verb's --help works, and each `bigmodel ...` example it shows parses with the real
parser and names existing presets (not run: parsing is what a typo or a renamed flag breaks)."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest

from bigmodel.cli import build_parser, main
from bigmodel.registry import preset_names

MODEL_ARGS = ("model", "models", "embedding_model", "classifier", "compare")


def _verbs(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(subparsers.choices)


PARSER = build_parser()
VERBS = _verbs(PARSER)


def _example_lines(epilog: str) -> list[str]:
    """The command lines of an epilog, cut at comments, pipes and redirections."""
    lines = []
    for raw in epilog.splitlines():
        line = re.split(r"\s{2,}[(#]|\s#\s", raw.strip())[0]
        if "bigmodel " not in line or line.startswith("#"):
            continue
        line = line[line.index("bigmodel "):]
        line = re.split(r"\s[|>]\s?", line)[0]
        lines.append(line)
    return lines


EXAMPLES = [(verb, line) for verb, sub in VERBS.items() for line in _example_lines(sub.epilog or "")]


def _is_model_name(value: str) -> bool:
    # a preset, or a folder / Hugging Face id (anything with a slash, or a relative path)
    return value in preset_names() or "/" in value or value.startswith(".")


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_has_help_with_examples(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([verb, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"bigmodel {verb}" in out


def test_examples_were_found() -> None:
    assert len(EXAMPLES) >= 2 * len(VERBS) - 4, EXAMPLES


@pytest.mark.parametrize(("verb", "line"), EXAMPLES, ids=[line for _, line in EXAMPLES])
def test_help_example_parses_and_names_presets(verb: str, line: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    argv = shlex.split(line)[1:]
    try:
        args = PARSER.parse_args(argv)
    except SystemExit:
        pytest.fail(f"`bigmodel {verb} --help` example does not parse: {line}\n"
                    f"{capsys.readouterr().err}")
    for name in MODEL_ARGS:
        value = getattr(args, name, None)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str):
                assert _is_model_name(item), (f"`bigmodel {verb} --help` example names {item!r}, "
                                              f"not a preset nor a folder: {line}")
