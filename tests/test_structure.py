"""The shape of the package: one name per thing, small modules, layers the imports respect."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bigmodel as bm

SRC = Path(bm.__file__).parent
MAX_MODULE_LINES = 500
# Importing these needs an optional extra that a bare install may lack.
OPTIONAL = ("bigmodel.serve",)


def _all_submodules() -> list[str]:
    return [info.name for info in pkgutil.walk_packages(bm.__path__, prefix="bigmodel.")]


def test_every_public_name_is_a_function_or_a_class_after_every_submodule_is_imported() -> None:
    for name in _all_submodules():
        if name.endswith("__main__"):
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            if not name.startswith(OPTIONAL):
                raise
    for name in bm.__all__:
        value = getattr(bm, name)
        if name == "__version__":
            continue
        assert inspect.isfunction(value) or inspect.isclass(value), f"bm.{name} is {type(value)}"
    # A submodule import binds the package attribute of the same name: none may collide.
    assert not any(inspect.ismodule(getattr(bm, n)) for n in ("generate", "plan", "train"))


def test_train_generate_and_plan_run_after_their_packages_are_imported(tmp_path: Path) -> None:
    import bigmodel.decoding  # noqa: F401
    import bigmodel.planning  # noqa: F401
    import bigmodel.training.trainer  # noqa: F401

    out = tmp_path / "tiny"
    bm.train({
        "task": {"kind": "seq2seq", "dataset": "dates", "train_examples": 16, "eval_examples": 0},
        "model": {"config": {"d_model": 16, "n_heads": 2, "n_encoder_layers": 1,
                             "n_decoder_layers": 1, "d_ff": 32, "dropout": 0.0}},
        "data": {"seq_len": 48},
        "train": {"out_dir": str(out), "max_steps": 2, "batch_size": 8, "eval_every": 0,
                  "progress": False, "save_every": 0},
    })
    text = bm.generate("the first of May, 1999", model=str(out), max_new_tokens=4)
    assert isinstance(text, str)
    assert bm.plan("gpt2").parameters["total"] > 100_000_000


def test_no_callable_module_trick_remains() -> None:
    assert not (SRC / "_callable_module.py").exists()
    for path in SRC.rglob("*.py"):
        assert "make_callable" not in path.read_text(encoding="utf-8"), path


def test_no_source_module_is_longer_than_500_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_attention_projections_are_called_only_inside_nn() -> None:
    for path in SRC.rglob("*.py"):
        if path.relative_to(SRC).parts[0] == "nn":
            continue
        assert "qkv_proj(" not in path.read_text(encoding="utf-8"), path


def test_no_function_shares_its_module_name() -> None:
    clashes = []
    for path in SRC.rglob("*.py"):
        stem = path.parent.name if path.name == "__init__.py" else path.stem
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith((f"def {stem}(", f"async def {stem}(")):
                clashes.append(str(path.relative_to(SRC)))
    assert not clashes, clashes


@pytest.mark.skipif(shutil.which("lint-imports", path=str(Path(sys.executable).parent)) is None,
                    reason="import-linter is a [dev] dependency")
def test_imports_respect_the_layers() -> None:
    """faces > tasks, training, explain, planning > hub > tokenization, decoding > models > nn
    > errors, fileio (the contract in pyproject.toml), lazy imports included."""
    exe = Path(sys.executable).parent / "lint-imports"
    root = SRC.parent.parent
    result = subprocess.run([str(exe), "--no-cache"], cwd=root, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
