"""`bigmodel models`: counts from configs equal the built models', and no torch is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bigmodel.registry import preset_names
from bigmodel.tasks.catalog import _count_on_meta, count_parameters


@pytest.mark.parametrize("name", preset_names())
def test_count_from_config_equals_built_model(name: str) -> None:
    assert count_parameters(name) == _count_on_meta(name)


def test_models_verb_does_not_import_torch() -> None:
    code = ("import sys, io, contextlib; from bigmodel.cli import main\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out): main(['models'])\n"
            "assert 'gpt2-xl' in out.getvalue() and '1,557,611,200' in out.getvalue(), out.getvalue()\n"
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("name", ["tiny-gpt-en", "tiny-bert-en", "tiny-resnet-digits", "all-minilm-l6-v2"])
def test_weight_file_header_count_equals_built_model(name: str) -> None:
    # the fallback for a shipped family the formulas do not cover
    from bigmodel.registry import PRESETS, local_weights_dir
    from bigmodel.tasks.catalog import _count_in_header

    assert _count_in_header(local_weights_dir(PRESETS[name]) / "model.safetensors") == _count_on_meta(name)
