"""read_squad: SQuAD JSON or rows of questions; anything malformed is one error naming where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bigmodel.data.squad import read_squad
from bigmodel.errors import BigModelError

CONTEXT = "In the beginning God created the heaven and the earth."
QA = {"id": "q1", "question": "Who created the heaven?", "answers": [{"text": "God", "answer_start": 17}]}


def test_squad_json_and_json_lines_read_the_same(tmp_path: Path) -> None:
    squad = tmp_path / "squad.json"
    squad.write_text(json.dumps({"data": [{"paragraphs": [{"context": CONTEXT, "qas": [QA]}]}]}))
    one_line = tmp_path / "row.jsonl"
    one_line.write_text(json.dumps({"context": CONTEXT, **QA}) + "\n")
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([{"context": CONTEXT, **QA}]))
    for path in (squad, one_line, rows):
        (example,) = read_squad(path)
        assert (example.question, example.answers) == (QA["question"], [("God", 17)])


@pytest.mark.parametrize(("data", "message"), [
    ({"data": ["not an article"]}, r"data\[0\] must be an object with 'paragraphs'"),
    ({"data": {}}, "expected SQuAD's"),
    ({"data": [{"paragraphs": [{"context": " ", "qas": [QA]}]}]}, r"paragraphs\[0\] needs a non-empty 'context'"),
    ({"data": [{"paragraphs": [{"context": CONTEXT, "qas": []}]}]}, "holds no questions"),
    ([{"question": "Who?", "answers": []}], "row 0 needs a non-empty 'context'"),
    (3, "expected a SQuAD JSON object or a list of questions"),
])
def test_malformed_files_are_one_error_naming_where(tmp_path: Path, data: object, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(BigModelError, match=message) as caught:
        read_squad(path)
    assert "\n" not in str(caught.value)
