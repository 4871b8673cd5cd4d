"""SQuAD-format question answering data: JSON -> (question, context, answers) examples.

The file is SQuAD v1.1's layout::

    {"data": [{"title": "...", "paragraphs": [{"context": "...", "qas": [
        {"id": "q1", "question": "...", "answers": [{"text": "...", "answer_start": 12}]}]}]}]}

``answer_start`` is a character offset into the context, and ``context[answer_start:][:len(text)]``
must be the answer text. A file that is a JSON list of {"question", "context", "answers"}
objects (or JSON lines of them) is read too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BigModelError


@dataclass
class QAExample:
    id: str
    question: str
    context: str
    answers: list[tuple[str, int]]  # (text, character start)


def _answers(raw: Any, where: str, context: str) -> list[tuple[str, int]]:
    if not isinstance(raw, list) or not raw:
        raise BigModelError(f"{where}: 'answers' must be a non-empty list of {{text, answer_start}}")
    out = []
    for k, a in enumerate(raw):
        if not isinstance(a, dict) or not isinstance(a.get("text"), str) or \
                not isinstance(a.get("answer_start"), int) or isinstance(a.get("answer_start"), bool):
            raise BigModelError(f"{where}: answers[{k}] must be {{\"text\": str, \"answer_start\": int}}")
        text, start = a["text"], a["answer_start"]
        if not text.strip():
            raise BigModelError(f"{where}: answers[{k}] has an empty text")
        if start < 0 or context[start:start + len(text)] != text:
            raise BigModelError(f"{where}: answers[{k}] text {text[:40]!r} is not at answer_start={start} "
                                f"of the context")
        out.append((text, start))
    return out


def _example(qa: Any, context: str, where: str, n: int) -> QAExample:
    if not isinstance(qa, dict) or not isinstance(qa.get("question"), str) or not qa["question"].strip():
        raise BigModelError(f"{where}: needs a non-empty 'question'")
    return QAExample(str(qa.get("id", n)), qa["question"], context, _answers(qa.get("answers"), where, context))


def _read_json(path: Path) -> Any:
    """The file as one JSON value, or as a list of its JSON lines."""
    if not path.is_file():
        raise BigModelError(f"SQuAD file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BigModelError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise BigModelError(f"{path} is neither SQuAD JSON nor JSON lines: {exc}") from None


def _nonempty_context(row: Any) -> str | None:
    context = row.get("context") if isinstance(row, dict) else None
    return context if isinstance(context, str) and context.strip() else None


def _squad_examples(data: dict[str, Any], path: Path) -> list[QAExample]:
    """The questions of SQuAD's {"data": [{"paragraphs": [{"context", "qas"}]}]}."""
    articles = data.get("data")
    if not isinstance(articles, list):
        raise BigModelError(f"{path}: expected SQuAD's {{\"data\": [{{\"paragraphs\": [...]}}]}}")
    examples: list[QAExample] = []
    for i, article in enumerate(articles):
        if article and not isinstance(article, dict):
            raise BigModelError(f"{path}: data[{i}] must be an object with 'paragraphs'")
        for j, paragraph in enumerate((article or {}).get("paragraphs") or []):
            where = f"{path}: data[{i}].paragraphs[{j}]"
            context = _nonempty_context(paragraph)
            if context is None:
                raise BigModelError(f"{where} needs a non-empty 'context'")
            for k, qa in enumerate(paragraph.get("qas") or []):
                examples.append(_example(qa, context, f"{where}.qas[{k}]", len(examples)))
    return examples


def _row_examples(data: list[Any], path: Path) -> list[QAExample]:
    """The questions of a list of {"question", "context", "answers"} rows."""
    examples = []
    for n, row in enumerate(data):
        context = _nonempty_context(row)
        if context is None:
            raise BigModelError(f"{path}: row {n} needs a non-empty 'context'")
        examples.append(_example(row, context, f"{path}: row {n}", n))
    return examples


def read_squad(path: str | Path) -> list[QAExample]:
    """Every question of a SQuAD-format file, with one clear error for anything malformed."""
    path = Path(path)
    data = _read_json(path)
    if isinstance(data, dict) and "data" not in data and "context" in data:
        data = [data]  # JSON lines of one question parse as one object
    if isinstance(data, dict):
        examples = _squad_examples(data, path)
    elif isinstance(data, list):
        examples = _row_examples(data, path)
    else:
        raise BigModelError(f"{path}: expected a SQuAD JSON object or a list of questions")
    if not examples:
        raise BigModelError(f"{path} holds no questions")
    return examples


__all__ = ["QAExample", "read_squad"]
