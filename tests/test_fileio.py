"""Reading a user's files: the text, or one error line that names the file and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from bigmodel.errors import BigModelError
from bigmodel.fileio import read_json, read_json_object, read_text


def test_read_text_drops_a_bom_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes("\ufeffhello\nwörld\n".encode())
    assert read_text(path) == "hello\nwörld\n"


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: None, "data file {p} does not exist"),
    (lambda p: p.mkdir(), "data file {p} is a folder"),
    (lambda p: p.write_bytes(b"ok\nok\ncaf\xe9\n"), "{p} is not UTF-8 text (invalid byte 0xe9 on line 3)"),
])
def test_read_text_errors_name_the_file(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "x.csv"
    make(path)
    with pytest.raises(BigModelError) as info:
        read_text(path, "data file")
    assert message.format(p=path) in str(info.value)
    assert "\n" not in str(info.value)


def test_read_json_says_where_it_is_broken(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"a": 1,\n "b": }', encoding="utf-8")
    with pytest.raises(BigModelError, match=r"config.json is not valid JSON \(.* at line 2\)"):
        read_json(path)
    path.write_text('{"a": [1, 2]}', encoding="utf-8")
    assert read_json(path) == {"a": [1, 2]}


def test_read_json_object_refuses_another_value(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("[1, 2]", encoding="utf-8")
    assert read_json(path) == [1, 2]
    with pytest.raises(BigModelError, match="config.json must hold a JSON object, got list"):
        read_json_object(path, "model config")
    with pytest.raises(BigModelError, match="model config .*missing.json does not exist"):
        read_json_object(tmp_path / "missing.json", "model config")
