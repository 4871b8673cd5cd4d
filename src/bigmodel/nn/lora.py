"""LoRA: train a low-rank update beside a frozen linear layer (Hu et al. 2021).

A frozen weight W (out, in) gets a trainable update of rank r ≪ min(in, out):

    y = W x + b + (α / r) · B A dropout(x)        A: (r, in)   B: (out, r)

A starts Kaiming-uniform and B at zero, so training starts from the unchanged model. Only A,
B and the task head are trained: for a 22M-parameter MiniLM with r = 8 on the attention
projections that is ~0.1M numbers instead of 22M. For inference the update folds into the
weight, W' = W + (α / r) · B A, and the layer costs exactly what it did before.

The adapter is saved on its own, with PEFT's key names (``base_model.model.<path>.lora_A.weight``)
and an ``adapter_config.json``; the base weights stay where they were.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import BigModelError
from ..fileio import atomic_write, atomic_write_text, read_json

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
PEFT_PREFIX = "base_model.model."
DEFAULT_TARGETS = ("qkv_proj", "q_proj", "kv_proj", "out_proj")
DEFAULT_MODULES_TO_SAVE = ("classifier", "score")


@dataclass
class LoRAConfig:
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))
    modules_to_save: list[str] = field(default_factory=lambda: list(DEFAULT_MODULES_TO_SAVE))

    def __post_init__(self) -> None:
        if not isinstance(self.rank, int) or self.rank < 1:
            raise BigModelError(f"lora rank must be a positive integer, got {self.rank!r}")
        if not self.alpha > 0:
            raise BigModelError(f"lora alpha must be > 0, got {self.alpha!r}")
        if not 0 <= self.dropout < 1:
            raise BigModelError(f"lora dropout must be in [0, 1), got {self.dropout!r}")
        self.target_modules = list(self.target_modules)
        self.modules_to_save = list(self.modules_to_save)
        if not self.target_modules:
            raise BigModelError("lora target_modules must name at least one linear layer")

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank


class LoRALinear(nn.Linear):
    """An ``nn.Linear`` (same ``weight`` and ``bias`` objects, frozen) plus ``lora_A``, ``lora_B``.

    It subclasses nn.Linear so that the wrapped weight keeps its name and identity: the
    model's state dict, optimizer groups and tied weights see the same tensors as before.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0) -> None:
        nn.Module.__init__(self)
        self.in_features = base.in_features
        self.out_features = base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.rank = rank
        self.scaling = alpha / rank
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Linear(base.in_features, rank, bias=False, **factory)  # weight (r, in)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False, **factory)  # weight (out, r)
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.weight.requires_grad_(False)
        if self.bias is not None:
            self.bias.requires_grad_(False)
        self.train(base.training)  # a layer added to a model in eval mode must not drop out

    def delta_weight(self) -> Tensor:
        """(α / r) · B A: (out, in)."""
        return self.scaling * (self.lora_B.weight @ self.lora_A.weight)

    def forward(self, x: Tensor) -> Tensor:
        y = nn.functional.linear(x, self.weight, self.bias)
        return y + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling

    def merged(self) -> nn.Linear:
        """A plain nn.Linear with W' = W + (α / r) · B A (new tensors; this layer is unchanged)."""
        out = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                        device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(self.weight + self.delta_weight().to(self.weight.dtype))
            if self.bias is not None:
                out.bias.copy_(self.bias)
        return out

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, rank={self.rank}, scaling={self.scaling:g}"


def _matches(name: str, patterns: Iterable[str]) -> bool:
    """``name`` ends with one of ``patterns`` at a dot boundary ("qkv_proj" matches
    "bert.blocks.0.self_attn.qkv_proj")."""
    return any(name == p or name.endswith("." + p) for p in patterns)


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}


def apply_lora(
    model: nn.Module,
    rank: int = 8,
    alpha: float = 16.0,
    dropout: float = 0.0,
    target_modules: Iterable[str] = DEFAULT_TARGETS,
    modules_to_save: Iterable[str] = DEFAULT_MODULES_TO_SAVE,
) -> nn.Module:
    """Wrap the matching ``nn.Linear`` layers in place and freeze everything else.

    Trainable afterwards: each wrapped layer's A and B, and every parameter of the modules
    named in ``modules_to_save`` (the task head, freshly initialized, must learn too).
    The settings are kept as ``model.lora_config`` for :func:`save_adapter`.
    """
    config = LoRAConfig(rank, alpha, dropout, list(target_modules), list(modules_to_save))
    if lora_layers(model):
        raise BigModelError("this model already has LoRA layers; merge_lora() it first")
    linears = [name for name, m in model.named_modules() if type(m) is nn.Linear]
    chosen = [name for name in linears if _matches(name, config.target_modules)]
    if not chosen:
        short = sorted({n.rpartition(".")[2] for n in linears})
        raise BigModelError(f"lora target_modules {config.target_modules} match no linear layer; "
                            f"this model's linear layers are named {', '.join(short)}")
    for param in model.parameters():
        param.requires_grad_(False)
    for name in chosen:
        _set_module(model, name, LoRALinear(model.get_submodule(name), config.rank, config.alpha,
                                            config.dropout))
    for name, module in model.named_modules():
        if _matches(name, config.modules_to_save) and not isinstance(module, LoRALinear):
            for param in module.parameters():
                param.requires_grad_(True)
    for layer in lora_layers(model).values():
        layer.lora_A.weight.requires_grad_(True)
        layer.lora_B.weight.requires_grad_(True)
    model.lora_config = config
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter into its weight (W' = W + (α/r) B A) and unwrap it, in place.

    The result is the plain architecture again (saveable, loadable by transformers) and
    computes what the adapted model computed; all parameters are trainable again.
    """
    for name, layer in lora_layers(model).items():
        _set_module(model, name, layer.merged())
    for param in model.parameters():
        param.requires_grad_(True)
    if hasattr(model, "lora_config"):
        del model.lora_config
    return model


def merged_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The state dict the merged model would have (W + (α/r) B A; no lora_* keys), leaving
    ``model`` untouched: what a checkpoint of a model still in training stores."""
    layers = lora_layers(model)
    out: dict[str, Tensor] = {}
    for key, value in model.state_dict().items():
        owner, _, leaf = key.rpartition(".")
        if ".lora_" in f".{key}":
            continue
        if leaf == "weight" and owner in layers:
            value = value + layers[owner].delta_weight().detach().to(value.dtype)
        out[key] = value
    return out


def _saved_module_keys(model: nn.Module, modules_to_save: Iterable[str]) -> list[str]:
    names = [n for n, m in model.named_modules() if _matches(n, modules_to_save) and not isinstance(m, LoRALinear)]
    keys = []
    for key in model.state_dict():
        if any(key.startswith(n + ".") for n in names):
            keys.append(key)
    return keys


def lora_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The adapter alone, under PEFT's names: A and B of each layer, plus the saved head."""
    config: LoRAConfig | None = getattr(model, "lora_config", None)
    if config is None:
        raise BigModelError("this model has no LoRA adapter (apply_lora or load_adapter first)")
    state = model.state_dict()
    out: dict[str, Tensor] = {}
    for name in lora_layers(model):
        for part in ("lora_A", "lora_B"):
            out[f"{PEFT_PREFIX}{name}.{part}.weight"] = state[f"{name}.{part}.weight"]
    for key in _saved_module_keys(model, config.modules_to_save):
        out[PEFT_PREFIX + key] = state[key]
    return {k: v.detach().contiguous().cpu() for k, v in out.items()}


def save_adapter(model: nn.Module, directory: str | Path, *, base_model: str | None = None,
                 extra: dict[str, Any] | None = None) -> Path:
    """Write ``adapter_model.safetensors`` + ``adapter_config.json`` (PEFT's layout).

    ``base_model`` is recorded as ``base_model_name_or_path``; ``extra`` (e.g. the label
    names and the architecture) goes under the ``bigmodel`` key.
    """
    from safetensors.torch import save_file

    state = lora_state_dict(model)
    config: LoRAConfig = model.lora_config
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    payload = {
        "peft_type": "LORA",
        "base_model_name_or_path": base_model or getattr(model, "name_or_path", None),
        "r": config.rank,
        "lora_alpha": config.alpha,
        "lora_dropout": config.dropout,
        "target_modules": config.target_modules,
        "modules_to_save": config.modules_to_save,
        "bias": "none",
        "bigmodel": {"lora": asdict(config), **(extra or {})},
    }
    atomic_write(directory / ADAPTER_WEIGHTS, lambda p: save_file(state, p, metadata={"format": "pt"}))
    atomic_write_text(directory / ADAPTER_CONFIG, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return directory


def read_adapter_config(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / ADAPTER_CONFIG
    if not path.is_file():
        raise BigModelError(f"{directory} has no {ADAPTER_CONFIG}; is it a LoRA adapter folder?")
    config = read_json(path, "adapter config")
    if not isinstance(config, dict) or config.get("peft_type", "LORA") != "LORA":
        raise BigModelError(f"{path} does not describe a LoRA adapter")
    return config


def load_adapter(model: nn.Module, directory: str | Path) -> nn.Module:
    """Wrap ``model`` as the adapter's config says and load its weights (every key must fit)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config = read_adapter_config(directory)
    weights = Path(directory) / ADAPTER_WEIGHTS
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise BigModelError(f"cannot read the adapter weights {weights}: {exc}") from None
    if not lora_layers(model):
        apply_lora(model, int(config["r"]), float(config["lora_alpha"]), float(config.get("lora_dropout", 0.0)),
                   config["target_modules"], config.get("modules_to_save") or ())
    expected = model.state_dict()
    ours = {k.removeprefix(PEFT_PREFIX): v for k, v in state.items()}
    unknown = [k for k in ours if k not in expected]
    mis_shaped = [f"{k} {tuple(v.shape)} (model: {tuple(expected[k].shape)})"
                  for k, v in ours.items() if k in expected and v.shape != expected[k].shape]
    missing = [f"{n}.{p}.weight" for n in lora_layers(model) for p in ("lora_A", "lora_B")
               if f"{n}.{p}.weight" not in ours]
    if unknown or mis_shaped or missing:
        problems = [f"{what}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                    for what, keys in (("unknown", unknown), ("mis-shaped", mis_shaped), ("missing", missing)) if keys]
        raise BigModelError(f"adapter {directory} does not fit this model ({'; '.join(problems)})")
    with torch.no_grad():
        model.load_state_dict(ours, strict=False)
    return model


def count_trainable(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) unique parameters."""
    seen: set[int] = set()
    trainable = total = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total


__all__ = [
    "ADAPTER_CONFIG",
    "ADAPTER_WEIGHTS",
    "LoRAConfig",
    "LoRALinear",
    "apply_lora",
    "count_trainable",
    "load_adapter",
    "lora_layers",
    "lora_state_dict",
    "merge_lora",
    "merged_state_dict",
    "read_adapter_config",
    "save_adapter",
]
