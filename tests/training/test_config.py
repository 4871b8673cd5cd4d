"""Recipes: every key checked, with the closest real one suggested; typed overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from bigmodel.errors import BigModelError
from bigmodel.training.config import load_config
from bigmodel.training.objectives import get_objective

RECIPE = """
[task]
kind = "mlm_nsp"
mlm_probability = 0.2

[model.config]
n_layers = 4

[data]
path = "data/bible"
seq_len = 128

[train]
lr = 3e-4
max_steps = 100
"""


def test_toml_and_overrides_are_typed(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(RECIPE)
    config = load_config(path, ["train.lr=1e-3", "train.max_steps=7", "train.dtype=bf16",
                                "model.config.d_model=64", "train.compile=true", "train.min_lr_ratio=0"])
    assert config.train.lr == 1e-3 and isinstance(config.train.max_steps, int) and config.train.max_steps == 7
    assert config.train.dtype == "bf16" and config.train.compile is True
    assert config.train.min_lr_ratio == 0.0 and isinstance(config.train.min_lr_ratio, float)
    assert config.model.config == {"n_layers": 4, "d_model": 64}
    assert config.task.kind == "mlm_nsp" and config.task.options == {"mlm_probability": 0.2}
    assert get_objective("mlm_nsp")(config).options.mlm_probability == 0.2


@pytest.mark.parametrize(("overrides", "message"), [
    (["train.lr_rate=1"], 'unknown config key \'train.lr_rate\' \\(did you mean "train.lr"\\?\\)'),
    (["trian.lr=1"], 'did you mean "train"'),
    (["train.max_steps=abc"], "train.max_steps expects an integer"),
    (["train.max_steps=0"], "train.max_steps must be >= 1"),
    (["train.dtype=fp16"], 'train.dtype must be "fp32" or "bf16"'),
    (["lr=1"], 'did you mean "train.lr"'),
    (["train.lr"], "must look like section.key=value"),
])
def test_bad_keys_and_values_are_one_line_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(BigModelError, match=message):
        load_config({}, overrides)


def test_unknown_task_option_suggests_the_closest() -> None:
    config = load_config({"task": {"kind": "mlm_nsp", "mlm_probabilty": 0.1}})
    with pytest.raises(BigModelError, match='did you mean "task.mlm_probability"'):
        get_objective("mlm_nsp")(config)


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(BigModelError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nlr = 1")
    with pytest.raises(BigModelError, match="not valid TOML"):
        load_config(bad)
