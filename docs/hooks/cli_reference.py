"""MkDocs hook: the CLI reference is generated from the argparse parsers at build time."""

from __future__ import annotations

import sys
from pathlib import Path

MARKER = "<!-- cli-reference -->"


def _render() -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    from bigmodel.cli import build_parser

    parser = build_parser()
    parts = ["```text", parser.format_help().rstrip(), "```"]
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, sub in sorted(subparsers.choices.items()):
        parts += [f"\n## bigmodel {name}\n", "```text", sub.format_help().rstrip(), "```"]
    return "\n".join(parts)


def on_page_markdown(markdown: str, **kwargs: object) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, _render())
    return markdown
