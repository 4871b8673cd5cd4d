"""Fixtures of the kernel-choice tests: a kernel cache file of the test's own, a fake clock."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bigmodel.nn import kernel_cache, kernel_choice


@pytest.fixture
def cache_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "kernels.json"
    monkeypatch.setenv(kernel_cache.ENV, str(path))
    kernel_cache.forget_tables()
    yield path
    kernel_cache.forget_tables()


@pytest.fixture
def fake_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each timed call takes 1 s of a clock that only the measurement reads: no real timing."""
    clock = itertools.count()
    monkeypatch.setattr(kernel_choice, "timer", lambda: float(next(clock)))
