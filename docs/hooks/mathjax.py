"""MkDocs hook: MathJax served by the site itself (no CDN), copied from an installed package.

``pymdownx.arithmatex`` (generic mode) wraps each equation in ``<span class="arithmatex">``
/ ``<div class="arithmatex">``; ``docs/javascripts/mathjax.js`` configures MathJax to typeset
only those, and the MathJax build itself (``tex-chtml.js`` with its fonts and the TeX
extensions it loads on demand) is copied from the ``django-static-mathjax`` package (in the
[dev] extra) into ``site/assets/mathjax/`` after each build, so the site renders equations
with no network.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

TARGET = "assets/mathjax"
# What tex-chtml.js needs: the combined component, its CHTML fonts, the TeX extensions
# (autoload), the menu and the assistive MathML; not the speech engine nor the SVG output.
KEEP = ("tex-chtml.js", "input", "output/chtml", "ui", "a11y", "adaptors")


def mathjax_dir() -> Path:
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the docs need MathJax from the package django-static-mathjax: "
                         "pip install -e \".[dev]\"")
    folder = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    if not (folder / "tex-chtml.js").is_file():
        raise SystemExit(f"{folder} has no tex-chtml.js: reinstall django-static-mathjax")
    return folder


def on_post_build(config: Any, **kwargs: object) -> None:
    source, target = mathjax_dir(), Path(config["site_dir"]) / TARGET
    for part in KEEP:
        origin = source / part
        if origin.is_dir():
            shutil.copytree(origin, target / part, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / part)
