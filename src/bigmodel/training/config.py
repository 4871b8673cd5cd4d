"""The training recipe: a TOML file read into nested dataclasses, plus ``key=value`` overrides.

A recipe has four tables::

    [task]                       # which objective; its own options sit beside ``kind``
    kind = "causal_lm"           # causal_lm | mlm_nsp | seq2seq | classification | ...

    [model]                      # what to train
    architecture = "GPT2LMHeadModel"   # or preset = "gpt2", or pretrained = "runs/x"
    [model.config]               # config fields of that architecture
    n_layers = 4

    [data]
    path = "data/bible"          # a folder written by `bigmodel prepare`
    seq_len = 128

    [train]
    max_steps = 1000
    lr = 3e-4

Every key is checked: an unknown one is an error naming the closest real one
(``train.lr_rate`` -> did you mean ``train.lr``?). Overrides use dotted keys and are parsed
as TOML values, then converted to the field's type: ``train.lr=1e-3 train.dtype=bf16
model.config.n_layers=2``.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BigModelError, did_you_mean


@dataclass
class TaskConfig:
    kind: str = "causal_lm"
    # Keys the objective defines (its ``options_class``); checked when the objective is built.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    architecture: str = ""  # e.g. GPT2LMHeadModel, BertForPreTraining; "" = the task's default
    preset: str = ""  # start from a preset's config (fresh weights)
    pretrained: str = ""  # start from saved weights (name or folder): fine-tuning
    config: dict[str, Any] = field(default_factory=dict)  # config fields, checked by the model


@dataclass
class DataConfig:
    path: str = ""  # prepared folder (bigmodel prepare) or the task's data file(s)
    validation_path: str = ""  # optional separate validation data
    tokenizer: str = ""  # "" = the one saved with the prepared data
    seq_len: int = 128


@dataclass
class TrainConfig:
    out_dir: str = "runs/model"
    max_steps: int = 1000
    batch_size: int = 8  # per process, per micro-step
    grad_accum: int = 1
    lr: float = 3e-4
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    max_grad_norm: float = 1.0  # 0 = no clipping
    dtype: str = "fp32"  # fp32 | bf16 (autocast; weights and optimizer stay fp32)
    seed: int = 0
    log_every: int = 10
    eval_every: int = 200  # 0 = only at the end
    eval_batches: int = 20
    save_every: int = 0  # 0 = only at the end
    keep_checkpoints: int = 2
    num_threads: int = 0  # torch threads; 0 = leave torch's default
    device: str = "cpu"  # cpu | cuda | cuda:N | mps | auto (cuda, else mps, else cpu); --device
    distributed: str = "ddp"  # ddp | fsdp, used when launched by torchrun
    peak_gflops: float = 0.0  # for MFU; 0 = measure a matmul once at start
    compile: bool = False
    max_minutes: float = 0.0  # stop (evaluate, save) after this wall time; 0 = no limit
    progress: bool = True


@dataclass
class Config:
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["task"] = {"kind": self.task.kind, **self.task.options}
        return out


# Sections whose keys are free-form at this level (checked later by the model / objective).
_FREE_TABLES = {("model", "config")}


def parse_section(cls: type, values: dict[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from ``values``; unknown keys and wrong types are errors.

    Objectives use this for their ``[task]`` options, so their keys get the same checks.
    """
    if not isinstance(values, dict):
        raise BigModelError(f"config {where or 'file'} must be a table, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        dotted = f"{where}.{key}" if where else key
        if key not in fields:
            raise BigModelError(f"unknown config key {dotted!r}{_suggest(key, list(fields), where)}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = parse_section(hint, value, dotted)
        else:
            kwargs[key] = coerce(value, hint, dotted)
    return cls(**kwargs)


def _suggest(key: str, names: list[str], where: str) -> str:
    """' (did you mean "train.lr"?)': a name the key starts with wins (lr_rate -> lr)."""
    prefixed = [n for n in names if key.startswith(n) or n.startswith(key)]
    if prefixed:
        best = max(prefixed, key=len)
        return f' (did you mean "{where}.{best}"?)' if where else f' (did you mean "{best}"?)'
    hint = did_you_mean(key, names)
    return hint.replace('"', f'"{where}.', 1) if where and hint else hint


def coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` converted to type ``hint`` (int -> float, "x" -> str...), or an error."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value, hint, where)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise BigModelError(f"config {where} expects a table, got {value!r}")
        return dict(value)
    if origin is list or hint is list:
        if not isinstance(value, list):
            raise BigModelError(f"config {where} expects a list, got {value!r}")
        return list(value)
    scalar = _SCALARS.get(hint)
    return value if scalar is None else scalar(value, where)


def _coerce_union(value: Any, hint: Any, where: str) -> Any:
    options = typing.get_args(hint)
    if value is None and type(None) in options:
        return None
    for option in options:
        if option is type(None):
            continue
        try:
            return coerce(value, option, where)
        except BigModelError:
            continue
    raise BigModelError(f"config {where} expects {hint}, got {value!r}")


def _to_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BigModelError(f"config {where} expects true or false, got {value!r}")


def _to_int(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise BigModelError(f"config {where} expects an integer, got {value!r}")


def _to_float(value: Any, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise BigModelError(f"config {where} expects a number, got {value!r}")


def _to_str(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise BigModelError(f"config {where} expects a string, got {value!r}")


_SCALARS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


def _parse_value(text: str) -> Any:
    """A TOML value (``1e-3``, ``true``, ``[1, 2]``, ``"x"``), else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` strings to the nested dict ``raw`` (checked later, with the rest)."""
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BigModelError(f"override {item!r} must look like section.key=value, e.g. train.lr=1e-3")
        parts = key.split(".")
        if len(parts) < 2:
            exact = [k for k in _all_keys() if k.split(".")[-1] == key]
            hint = f' (did you mean "{exact[0]}"?)' if exact else did_you_mean(key, _all_keys())
            raise BigModelError(f"override {item!r}: name the section too, as in section.key=value{hint}")
        node = raw
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise BigModelError(f"override {item!r}: {part!r} is not a table")
            node = child
        node[parts[-1]] = _parse_value(text.strip())
    return raw


def _all_keys() -> list[str]:
    out = []
    for section in dataclasses.fields(Config):
        for f in dataclasses.fields(typing.get_type_hints(Config)[section.name]):
            out.append(f"{section.name}.{f.name}")
    return out


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Check and build a :class:`Config`; ``[task]`` keys other than ``kind`` become options."""
    raw = dict(raw)
    task = dict(raw.pop("task", {}) or {})
    if not isinstance(task, dict):
        raise BigModelError("config [task] must be a table")
    kind = task.pop("kind", TaskConfig.kind)
    if not isinstance(kind, str):
        raise BigModelError(f"config task.kind expects a string, got {kind!r}")
    config = parse_section(Config, raw, "")
    config.task = TaskConfig(kind=kind, options=task)
    _check(config)
    return config


def _check(config: Config) -> None:
    t = config.train
    for name in ("max_steps", "batch_size", "grad_accum", "log_every", "eval_batches", "keep_checkpoints"):
        if getattr(t, name) < 1:
            raise BigModelError(f"config train.{name} must be >= 1, got {getattr(t, name)}")
    for name in ("warmup_steps", "eval_every", "save_every", "num_threads"):
        if getattr(t, name) < 0:
            raise BigModelError(f"config train.{name} must be >= 0, got {getattr(t, name)}")
    if not t.lr > 0:
        raise BigModelError(f"config train.lr must be > 0, got {t.lr}")
    _check_numbers(t)
    if t.dtype not in ("fp32", "bf16"):
        raise BigModelError(f'config train.dtype must be "fp32" or "bf16", got {t.dtype!r}')
    if t.distributed not in ("ddp", "fsdp"):
        raise BigModelError(f'config train.distributed must be "ddp" or "fsdp", got {t.distributed!r}')
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", str(t.device).strip().lower()):
        raise BigModelError(f'config train.device must be "cpu", "cuda", "cuda:N", "mps" or "auto", '
                            f"got {t.device!r}")
    if config.data.seq_len < 2:
        raise BigModelError(f"config data.seq_len must be >= 2, got {config.data.seq_len}")


def _check_numbers(t: TrainConfig) -> None:
    """The optimizer's and the loop's numbers, in the ranges where they mean something."""
    from .. import validation as v

    v.positive(t.lr, "config train.lr")
    v.number(t.beta1, "config train.beta1", low=0, high=1, high_open=True)
    v.number(t.beta2, "config train.beta2", low=0, high=1, high_open=True)
    v.positive(t.eps, "config train.eps")
    v.non_negative(t.weight_decay, "config train.weight_decay")
    v.number(t.min_lr_ratio, "config train.min_lr_ratio", low=0, high=1)
    v.non_negative(t.max_grad_norm, "config train.max_grad_norm (0 = no clipping)")
    v.non_negative(t.max_minutes, "config train.max_minutes (0 = no limit)")
    v.non_negative(t.peak_gflops, "config train.peak_gflops (0 = measure)")
    v.global_seed(t.seed, "config train.seed")


def load_config(source: str | Path | dict[str, Any] | None = None, overrides: list[str] | None = None) -> Config:
    """Read a TOML file (or a dict), apply ``key=value`` overrides, check every key.

    Relative paths in ``data`` and ``train.out_dir`` are kept as written (relative to the
    current directory), as a command line user expects.
    """
    if source is None:
        raw: dict[str, Any] = {}
    elif isinstance(source, dict):
        raw = _deep_copy(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise BigModelError(f"config file {path} does not exist")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise BigModelError(f"config file {path} is not valid TOML ({exc})") from None
        except UnicodeDecodeError:
            raise BigModelError(f"config file {path} is not UTF-8 text") from None
    return config_from_dict(apply_overrides(raw, list(overrides or [])))


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


__all__ = [
    "Config",
    "DataConfig",
    "ModelConfig",
    "TaskConfig",
    "TrainConfig",
    "apply_overrides",
    "coerce",
    "load_config",
    "parse_section",
]
