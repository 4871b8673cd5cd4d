"""Labelled tables: formats, label maps, the stratified split, and the user's mistakes."""

from __future__ import annotations

import json

import pytest

from bigmodel.data.tables import (
    class_balance,
    label_names,
    load_classification_data,
    read_table,
    stratified_split,
)
from bigmodel.errors import BigModelError


def _write_csv(path, rows, header=("text", "label"), delimiter=","):
    lines = [delimiter.join(header)] + [delimiter.join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_csv_tsv_and_jsonl_read_the_same(tmp_path) -> None:
    rows = [("很好", "pos"), ("太差了", "neg"), ("还行, 不错", "pos")]
    csv_path = tmp_path / "a.csv"
    csv_path.write_text('text,label\n很好,pos\n太差了,neg\n"还行, 不错",pos\n', encoding="utf-8")
    tsv = _write_csv(tmp_path / "a.tsv", rows, delimiter="\t")
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "label": y}, ensure_ascii=False) + "\n" for t, y in rows),
                     encoding="utf-8")
    for path in (csv_path, tsv, jsonl):
        table = read_table(path)
        assert table.texts == [t for t, _ in rows]
        assert table.labels == [y for _, y in rows]


def test_configurable_columns_and_text_pairs(tmp_path) -> None:
    path = _write_csv(tmp_path / "p.csv", [("a", "b", "1"), ("c", "d", "0")], header=("q", "doc", "y"))
    table = read_table(path, text_column="q", label_column="y", text_pair_column="doc")
    assert table.text_pairs == ["b", "d"] and table.labels == ["1", "0"]


def test_numeric_labels_sort_numerically_and_integers_from_json_are_strings(tmp_path) -> None:
    assert label_names(["10", "2", "1"]) == ["1", "2", "10"]
    path = tmp_path / "n.jsonl"
    path.write_text('{"text": "x", "label": 1}\n{"text": "y", "label": 0}\n', encoding="utf-8")
    assert read_table(path).labels == ["1", "0"]


def test_split_is_seeded_and_stratified(tmp_path) -> None:
    labels = ["a"] * 90 + ["b"] * 10
    train, held = stratified_split(labels, 0.2, seed=3)
    assert sorted(train + held) == list(range(100))
    assert class_balance([labels[i] for i in held]) == {"a": 18, "b": 2}
    assert stratified_split(labels, 0.2, seed=3) == (train, held)
    assert stratified_split(labels, 0.2, seed=4) != (train, held)

    path = _write_csv(tmp_path / "s.csv", [(f"t{i}", y) for i, y in enumerate(labels)])
    data = load_classification_data(path, validation_fraction=0.2, seed=3)
    assert data.labels == ["a", "b"] and data.label2id == {"a": 0, "b": 1}
    assert len(data.train) == 80 and len(data.validation) == 20


def test_missing_label_column_names_the_columns_found(tmp_path) -> None:
    path = _write_csv(tmp_path / "x.csv", [("hi", "pos")], header=("text", "sentiment"))
    with pytest.raises(BigModelError, match=r"no label column 'label'.*'text', 'sentiment'"):
        read_table(path)


def test_one_class_only_is_refused(tmp_path) -> None:
    path = _write_csv(tmp_path / "one.csv", [("a", "pos"), ("b", "pos")])
    with pytest.raises(BigModelError, match=r"only one class \('pos'\)"):
        load_classification_data(path)


def test_validation_labels_unseen_in_training_are_named(tmp_path) -> None:
    train = _write_csv(tmp_path / "t.csv", [("a", "pos"), ("b", "neg")])
    val = _write_csv(tmp_path / "v.csv", [("c", "pos"), ("d", "neutral")])
    with pytest.raises(BigModelError, match="'neutral'"):
        load_classification_data(train, val)


def test_empty_texts_are_refused_or_skipped(tmp_path) -> None:
    path = _write_csv(tmp_path / "e.csv", [("a", "pos"), ("  ", "neg"), ("b", "neg")])
    with pytest.raises(BigModelError, match="empty 'text' .line 3"):
        read_table(path)
    assert read_table(path, skip_empty=True).texts == ["a", "b"]


def test_non_utf8_file_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("text,label\n好评,pos\n".encode("gbk"))
    with pytest.raises(BigModelError, match="not UTF-8"):
        read_table(path)


def test_unknown_suffix_and_missing_file(tmp_path) -> None:
    with pytest.raises(BigModelError, match="does not exist"):
        read_table(tmp_path / "none.csv")
    (tmp_path / "x.parquet").write_text("x")
    with pytest.raises(BigModelError, match="suffix"):
        read_table(tmp_path / "x.parquet")
