"""A verb's texts: its arguments, then one per line of --file; none at all is one error."""

from __future__ import annotations

from pathlib import Path

import pytest

from bigmodel.commands.text_arguments import texts_from_arguments
from bigmodel.errors import BigModelError


def test_arguments_come_before_the_file_lines(tmp_path: Path) -> None:
    path = tmp_path / "texts.txt"
    path.write_text("  one \n\ntwo\n", encoding="utf-8")
    assert texts_from_arguments(["zero"], str(path), skip_empty=True) == ["zero", "one", "two"]
    # Without skip_empty, line i of the file is text i (embed's vectors line up with the file).
    assert texts_from_arguments([], str(path), skip_empty=False) == ["  one ", "", "two"]


def test_no_text_at_all_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(BigModelError, match=r"give at least one text \(arguments or --file\)"):
        texts_from_arguments([], str(path), skip_empty=True)
    with pytest.raises(BigModelError, match="--file: no such file"):
        texts_from_arguments(["a"], str(tmp_path / "nope.txt"), skip_empty=False)
