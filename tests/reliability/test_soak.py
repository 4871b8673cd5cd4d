"""A short run of the loopback soak (benchmarks/soak.py): every kind of request, no 5xx."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


def _soak_module():
    spec = importlib.util.spec_from_file_location("bigmodel_soak", SOAK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_short_soak_answers_every_kind_without_a_5xx() -> None:
    result = _soak_module().soak(6, 3, "tiny-gpt-en", "tiny-bert-en", "all-minilm-l6-v2", threads=1, seed=1)
    assert result["status_5xx"] == 0 and result["transport_errors"] == 0, result
    assert result["problems"] == [], result["problems"]
    assert result["health_after"] == 200
    kinds = result["by_kind"]
    assert {"complete", "stream", "disconnect", "bad", "fill_mask", "embed"} <= set(kinds), kinds
    assert all(400 <= int(status) < 500 for status in kinds["bad"]), kinds["bad"]
