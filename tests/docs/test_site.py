"""The documentation site builds strictly: a broken link or a missing reference fails."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None,
                    reason="mkdocs is not installed (pip install -e '.[dev]')")
def test_mkdocs_build_strict(tmp_path) -> None:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    result = subprocess.run([str(mkdocs), "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "concepts" / "transformer" / "index.html").is_file()
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "bigmodel embed" in cli
    # Equations are typeset by MathJax served from the site itself: no CDN, nothing fetched.
    site = tmp_path / "site"
    transformer = (site / "concepts" / "transformer" / "index.html").read_text()
    assert transformer.count('class="arithmatex"') >= 5
    assert (site / "assets" / "mathjax" / "tex-chtml.js").is_file()
    assert any((site / "assets" / "mathjax" / "output" / "chtml" / "fonts").rglob("*.woff"))
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', transformer)
    assert scripts and not [s for s in scripts if "//" in s], scripts
    # "Tutorials" is one nav entry: the section links to its index page.
    home = (site / "index.html").read_text()
    assert home.count('href="tutorials/" class="md-nav__link') == 1
    assert re.search(r'md-nav__container">\s*<a href="tutorials/"', home)
