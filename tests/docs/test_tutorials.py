"""Every tutorial runs: each script under docs/tutorials/ on its --tiny settings, offline.

The site shows these very files (``--8<--`` snippets), so a tutorial that stops working fails
here instead of misleading a reader.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "docs" / "tutorials"
SCRIPTS = sorted(p.name for p in TUTORIALS.glob("*.py"))


def test_there_are_tutorials() -> None:
    assert len(SCRIPTS) >= 8


@pytest.mark.parametrize("script", SCRIPTS)
def test_tutorial_runs_on_tiny_settings(script: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "BIGMODEL_TUTORIAL_TINY": "1"}
    result = subprocess.run([sys.executable, str(TUTORIALS / script), "--tiny"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    assert result.stdout.strip(), f"{script} printed nothing"
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_tutorial_has_a_page_that_shows_it(script: str) -> None:
    page = TUTORIALS / script.replace(".py", ".md")
    assert page.is_file(), f"docs/tutorials/{page.name} is missing"
    assert f'--8<-- "docs/tutorials/{script}"' in page.read_text(encoding="utf-8")
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").partition("\nnav:")[2]
    assert f"tutorials/{page.name}" in nav, f"tutorials/{page.name} is not in mkdocs.yml's nav"
