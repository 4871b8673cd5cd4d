"""Hugging Face <-> bigmodel: the mechanism that applies a family's weight table.

Each family declares its table in its own module (gpt_family.py, bert_family.py, ...) and
registers it in families.py. A rule maps an HF module path to ours; ``{i}`` stands for a
layer number. It applies to every tensor under that path (``.weight``, ``.bias``,
``.running_mean`` ...). A rule whose HF side is a tuple concatenates those tensors along dim 0
into our one tensor (BERT's separate query/key/value into our fused ``qkv_proj``) and splits
it back on save. ``transposed`` lists the HF tensors stored as (in, out): GPT-2's Conv1D layers.

HF head models put the body under a prefix (``transformer.`` for GPT2LMHeadModel, ``bert.``
for BertForMaskedLM); ours mirror that with the same attribute names, so a body rule serves
both and the prefix is swapped as a whole.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import BigModelError
from .base import BigModel
from .families import FamilyMap, Rule, family_for_model, family_for_model_type

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- the mechanism


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(
        "^" + re.escape(template).replace(r"\{i\}", r"(?P<i>\d+)") + r"(?P<suffix>\..+)$"
    )


@dataclass
class _CompiledRule:
    hf: tuple[str, ...]
    ours: str
    hf_patterns: tuple[re.Pattern[str], ...]
    our_pattern: re.Pattern[str]


def _compile(rules: tuple[Rule, ...]) -> list[_CompiledRule]:
    compiled = []
    for hf, ours in rules:
        hf_names = hf if isinstance(hf, tuple) else (hf,)
        compiled.append(
            _CompiledRule(hf_names, ours, tuple(_pattern(h) for h in hf_names), _pattern(ours))
        )
    return compiled


def _has_body_prefix(model: BigModel, family_map: FamilyMap) -> bool:
    attribute = family_map.body_prefix.rstrip(".")
    return isinstance(getattr(model, attribute, None), torch.nn.Module)


def _fill(template: str, layer: str | None) -> str:
    return template.replace("{i}", layer) if layer is not None else template


def _renamed(key: str, renames: tuple[tuple[str, str], ...]) -> str:
    for old, new in renames:
        if key.endswith(old):
            key = key[: -len(old)] + new
        elif key.startswith(old):
            key = new + key[len(old) :]
    return key


def _match(
    bare: str, rules: list[_CompiledRule]
) -> tuple[_CompiledRule, int, re.Match[str]] | None:
    """The first rule (and which of its HF parts) that names ``bare``."""
    for rule in rules:
        for part_index, pattern in enumerate(rule.hf_patterns):
            m = pattern.match(bare)
            if m:
                return rule, part_index, m
    return None


def _to_our_names(
    hf_state: dict[str, Tensor], family_map: FamilyMap
) -> tuple[dict[str, Tensor], list[str]]:
    """HF keys -> ours, body keys as "BODY:" + key without prefix; and the unmatched keys."""
    prefix = family_map.body_prefix
    ignored = [re.compile(p) for p in family_map.ignored]
    body_rules = _compile(family_map.body_rules)
    rules = body_rules + _compile(family_map.head_rules)
    ours: dict[str, Tensor] = {}
    parts: dict[str, dict[int, Tensor]] = {}
    unexpected: list[str] = []
    for raw_key, tensor in hf_state.items():
        key = _renamed(raw_key, family_map.renames)
        if any(p.search(key) for p in ignored):
            continue
        bare = key[len(prefix) :] if key.startswith(prefix) else key
        found = _match(bare, rules)
        if found is None:
            unexpected.append(raw_key)
            continue
        rule, part_index, m = found
        our_key = (
            ("BODY:" if rule in body_rules else "")
            + _fill(rule.ours, m.groupdict().get("i"))
            + m.group("suffix")
        )
        value = tensor.t() if any(bare.endswith(t) for t in family_map.transposed) else tensor
        if len(rule.hf) > 1:
            parts.setdefault(our_key, {})[part_index] = value
        else:
            ours[our_key] = value
    for our_key, pieces in parts.items():
        ours[our_key] = torch.cat([pieces[i] for i in sorted(pieces)], dim=0)
    return ours, unexpected


def _fit_problems(
    state: dict[str, Tensor],
    expected: dict[str, Tensor],
    unexpected: list[str],
    missing: list[str],
    extra: list[str],
) -> list[str]:
    problems = []
    if missing:
        problems.append(_name_keys("missing", missing))
    if unexpected or extra:
        problems.append(_name_keys("unexpected", unexpected + extra))
    mis_shaped = [
        f"{k} {tuple(v.shape)} where the model expects {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if mis_shaped:
        problems.append(_name_keys("mis-shaped", mis_shaped))
    return problems


def from_hf_state_dict(
    model: BigModel,
    hf_state: dict[str, Tensor],
    family_map: FamilyMap,
    *,
    source_architecture: str | None = None,
    source: str = "checkpoint",
) -> None:
    """Copy an HF state dict into ``model``; one clear error if anything does not fit.

    Loading a different architecture of the same family (a BertForPreTraining checkpoint
    into BertForSequenceClassification, say) is allowed like in transformers: head weights
    the checkpoint lacks keep their fresh initialization, and are named in a log message;
    head weights the model lacks are dropped. Body weights must all be there.
    """
    ours, unexpected = _to_our_names(hf_state, family_map)
    body_prefix = family_map.body_prefix if _has_body_prefix(model, family_map) else ""
    state = {(body_prefix + k[5:] if k.startswith("BODY:") else k): v for k, v in ours.items()}
    expected = model.state_dict()
    tied = set(family_map.tied)
    # The heads are whatever is not under the body prefix (or everything when no prefix).
    head_keys = {k for k in expected if body_prefix and not k.startswith(body_prefix)}
    same_architecture = source_architecture in (None, model.architecture)

    missing = [k for k in expected if k not in state and k not in tied]
    extra = [k for k in state if k not in expected]
    missing_heads = [k for k in missing if k in head_keys]
    extra_heads = [k for k in extra if not k.startswith(body_prefix) or not body_prefix]
    if not same_architecture:
        # A pooler is part of the body in HF but absent from BertForMaskedLM: allow both ways.
        missing = [k for k in missing if k not in head_keys and ".pooler." not in f".{k}"]
        extra = [k for k in extra if k not in extra_heads and ".pooler." not in f".{k}"]
    problems = _fit_problems(state, expected, unexpected, missing, extra)
    if problems:
        raise BigModelError(f"{source} does not fit {model.architecture}: " + "; ".join(problems))
    new = [k for k in missing_heads if k not in tied]
    if not same_architecture and new:
        logger.warning(
            "%s was saved as %s: newly initialized %s", source, source_architecture, ", ".join(new)
        )
    state = {k: v for k, v in state.items() if k in expected}
    with torch.no_grad():
        model.load_state_dict(state, strict=False)


def to_hf_state_dict(model: BigModel, family_map: FamilyMap) -> dict[str, Tensor]:
    """The model's weights under Hugging Face names (contiguous, tied copies left out)."""
    body_prefix = family_map.body_prefix if _has_body_prefix(model, family_map) else ""
    body_rules = _compile(family_map.body_rules)
    head_rules = _compile(family_map.head_rules)
    tied = set(family_map.tied)
    out: dict[str, Tensor] = {}
    for key, tensor in model.state_dict().items():
        if key in tied and _is_tied(model, key):
            continue
        if key.endswith("position_table"):
            continue
        in_body = (not body_prefix) or key.startswith(body_prefix)
        bare = key[len(body_prefix) :] if body_prefix and in_body else key
        rules = body_rules if in_body else head_rules
        for rule in rules:
            m = rule.our_pattern.match(bare)
            if not m:
                continue
            layer = m.groupdict().get("i")
            suffix = m.group("suffix")
            hf_prefix = body_prefix if in_body else ""
            pieces = tensor.chunk(len(rule.hf), dim=0) if len(rule.hf) > 1 else (tensor,)
            for hf_template, piece in zip(rule.hf, pieces, strict=True):
                hf_key = _fill(hf_template, layer) + suffix
                if any(hf_key.endswith(t) for t in family_map.transposed):
                    piece = piece.t()
                out[hf_prefix + hf_key] = piece.contiguous()
            break
        else:
            raise BigModelError(f"no Hugging Face name for weight {key!r} of {model.architecture}")
    for ours_name, hf_name in family_map.saved_renames:
        if ours_name in out:
            out[hf_name] = out.pop(ours_name)
    return out


def _is_tied(model: BigModel, key: str) -> bool:
    params = dict(model.named_parameters(remove_duplicate=False))
    target = params.get(key)
    if target is None:
        return False
    return any(p is target for k, p in params.items() if k != key)


def _name_keys(what: str, keys: list[str], shown: int = 4) -> str:
    head = ", ".join(keys[:shown])
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return f"{len(keys)} {what} ({head}{more})"


__all__ = [
    "FamilyMap",
    "family_for_model",
    "family_for_model_type",
    "from_hf_state_dict",
    "to_hf_state_dict",
]
