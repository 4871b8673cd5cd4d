"""Labelled text for classification: CSV / TSV / JSONL files -> texts, labels, a label map.

A row holds a ``text`` (and optionally a ``text_pair``) and a ``label``; the column names are
configurable. Labels are kept as strings; the label map sorts them (numerically when every
label is an integer, so "2" sorts before "10"), and class i is
``labels[i]``. With one file, a seeded split stratified by class sets aside the validation
rows: each class contributes round(fraction · its count) rows (at least one when it has two).
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import BigModelError, did_you_mean
from ..fileio import read_text

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


@dataclass
class LabelledTexts:
    texts: list[str]
    labels: list[str] | None  # None when the file has no label column and none was required
    text_pairs: list[str] | None = None
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Sequence[int]) -> LabelledTexts:
        return LabelledTexts(
            [self.texts[i] for i in index],
            [self.labels[i] for i in index] if self.labels is not None else None,
            [self.text_pairs[i] for i in index] if self.text_pairs is not None else None,
            self.source,
        )


@dataclass
class ClassificationData:
    train: LabelledTexts
    validation: LabelledTexts
    labels: list[str]  # class i is labels[i]

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.labels)}

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))


def _format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in ("csv", "tsv", "jsonl"):
            raise BigModelError(f'format must be "csv", "tsv" or "jsonl", got {fmt!r}')
        return fmt
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise BigModelError(f"{path}: cannot tell the format from the suffix {suffix!r}; "
                            f"use .csv, .tsv or .jsonl (or pass format=)")
    return FORMATS[suffix]


def _rows(path: Path, fmt: str) -> tuple[list[str], list[tuple[int, dict]]]:
    """(column names, [(line number, row)])."""
    text = read_text(path, "data file")
    if fmt == "jsonl":
        rows: list[tuple[int, dict]] = []
        columns: dict[str, None] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BigModelError(f"{path} line {number} is not JSON: {exc.msg}") from None
            if not isinstance(row, dict):
                raise BigModelError(f"{path} line {number} must be a JSON object, got {type(row).__name__}")
            columns.update(dict.fromkeys(row))
            rows.append((number, row))
        return list(columns), rows
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if fmt == "tsv" else ",")
    try:
        columns_list = list(reader.fieldnames or [])
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise BigModelError(f"{path} is not valid {fmt.upper()}: {exc}") from None
    return columns_list, rows


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_table(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    text_pair_column: str | None = "text_pair",
    require_labels: bool = True,
    skip_empty: bool = False,
    format: str | None = None,
) -> LabelledTexts:
    """Read labelled texts; a missing column or an empty text is an error naming it.

    ``text_pair_column`` is used when the file has it (the default "text_pair" is optional;
    a name you pass explicitly must exist). ``skip_empty`` drops rows whose text is empty
    instead of refusing the file.
    """
    path = Path(path)
    fmt = _format(path, format)
    columns, rows = _rows(path, fmt)
    if not rows:
        raise BigModelError(f"{path} holds no rows")
    has_labels, pair_column = _check_columns(path, columns, text_column, label_column, text_pair_column,
                                             require_labels)
    texts: list[str] = []
    labels: list[str] = []
    pairs: list[str] = []
    empty: list[int] = []
    no_label: list[int] = []
    for number, row in rows:
        text = _cell(row.get(text_column)).strip()
        if not text:
            empty.append(number)
            continue
        if has_labels:
            label = _cell(row.get(label_column)).strip()
            if not label:
                no_label.append(number)
                continue
            labels.append(label)
        texts.append(text)
        if pair_column is not None:
            pairs.append(_cell(row.get(pair_column)).strip())
    if empty and not skip_empty:
        raise BigModelError(f"{path}: {len(empty)} row(s) with an empty {text_column!r} (line {_lines(empty)}); "
                            f"fix them or pass skip_empty=True / --skip-empty")
    if no_label and require_labels:
        raise BigModelError(f"{path}: {len(no_label)} row(s) with an empty {label_column!r} (line {_lines(no_label)})")
    if not texts:
        raise BigModelError(f"{path} holds no non-empty texts")
    return LabelledTexts(texts, labels if has_labels else None, pairs if pair_column else None, str(path))


def _check_columns(path: Path, columns: list[str], text_column: str, label_column: str,
                   text_pair_column: str | None, require_labels: bool) -> tuple[bool, str | None]:
    """(whether there is a label column, the text-pair column or None); a missing column that
    is needed is an error listing the columns found."""
    found = ", ".join(repr(c) for c in columns) or "none"
    if text_column not in columns:
        raise BigModelError(f"{path} has no text column {text_column!r}{did_you_mean(text_column, columns)}; "
                            f"columns found: {found} (choose one with --text-column / text_column)")
    has_labels = label_column in columns
    if require_labels and not has_labels:
        raise BigModelError(f"{path} has no label column {label_column!r}{did_you_mean(label_column, columns)}; "
                            f"columns found: {found} (choose one with --label-column / label_column)")
    pair_column = text_pair_column if text_pair_column in columns else None
    if text_pair_column not in (None, "text_pair") and pair_column is None:
        raise BigModelError(f"{path} has no text-pair column {text_pair_column!r}; columns found: {found}")
    return has_labels, pair_column


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:5])
    return shown + (", ..." if len(numbers) > 5 else "")


def label_names(labels: Sequence[str]) -> list[str]:
    """The sorted distinct labels; numeric order when they are all integers."""
    distinct = set(labels)
    try:
        return sorted(distinct, key=int)
    except ValueError:
        return sorted(distinct)


def class_balance(labels: Sequence[str]) -> dict[str, int]:
    counts = Counter(labels)
    return {name: counts[name] for name in label_names(list(counts))}


def format_balance(labels: Sequence[str]) -> str:
    """'neg 812 (48.7%), pos 855 (51.3%)'."""
    counts = class_balance(labels)
    total = sum(counts.values())
    return ", ".join(f"{name} {n} ({100 * n / total:.1f}%)" for name, n in counts.items())


def stratified_split(labels: Sequence[str], fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """(train indices, held-out indices): each class gives round(fraction · count) rows
    (at least one when it has two or more), chosen by a seeded shuffle."""
    if not 0 < fraction < 1:
        raise BigModelError(f"validation fraction must be between 0 and 1, got {fraction}")
    rng = random.Random(seed)
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    train: list[int] = []
    held: list[int] = []
    for name in label_names(list(by_class)):
        index = by_class[name]
        rng.shuffle(index)
        n = round(fraction * len(index))
        if len(index) >= 2:
            n = min(max(n, 1), len(index) - 1)
        else:
            n = 0
        held.extend(index[:n])
        train.extend(index[n:])
    return sorted(train), sorted(held)


def load_classification_data(
    train_path: str | Path,
    validation_path: str | Path | None = None,
    *,
    validation_fraction: float = 0.1,
    seed: int = 0,
    text_column: str = "text",
    label_column: str = "label",
    text_pair_column: str | None = "text_pair",
    skip_empty: bool = False,
) -> ClassificationData:
    """Train and validation texts with one label map (from the training labels).

    Errors: fewer than two classes; validation labels the training file never shows.
    """
    options = dict(text_column=text_column, label_column=label_column, text_pair_column=text_pair_column,
                   skip_empty=skip_empty)
    train = read_table(train_path, **options)
    assert train.labels is not None
    names = label_names(train.labels)
    if len(names) < 2:
        raise BigModelError(f"{train_path} has only one class ({names[0]!r}); a classifier needs at least two")
    if validation_path:
        validation = read_table(validation_path, **options)
        assert validation.labels is not None
        check_known_labels(validation.labels, names, str(validation_path))
    else:
        train_index, held_index = stratified_split(train.labels, validation_fraction, seed)
        if not held_index:
            raise BigModelError(f"{train_path} is too small to hold out a validation set; "
                                f"give a validation file")
        train, validation = train.subset(train_index), train.subset(held_index)
    return ClassificationData(train, validation, names)


def check_known_labels(labels: Sequence[str], known: Sequence[str], source: str) -> None:
    unseen = sorted(set(labels) - set(known))
    if unseen:
        shown = ", ".join(repr(u) for u in unseen[:5]) + (" ..." if len(unseen) > 5 else "")
        raise BigModelError(f"{source} has labels the model was not trained on: {shown}; "
                            f"the model knows {', '.join(repr(k) for k in known)}")


__all__ = [
    "ClassificationData",
    "LabelledTexts",
    "check_known_labels",
    "class_balance",
    "format_balance",
    "label_names",
    "load_classification_data",
    "read_table",
    "stratified_split",
]
