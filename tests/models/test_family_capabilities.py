"""What a family says of itself (FamilyMap.causal, reads_token_type_ids, sequence_classifier,
companion, transformers_limits) is what its models do, and no code outside the registry
branches on a family's name."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import torch
from torch import nn

import bigmodel as bm
from bigmodel.companions import model_preprocessor, model_tokenizer, transformers_limits
from bigmodel.models.families import (
    IMAGE_PREPROCESSOR,
    TOKENIZER,
    family_maps,
    family_named,
    family_of,
)
from bigmodel.models.resnet import ResNetConfig, ResNetForImageClassification

SRC = Path(bm.__file__).parent
TINY_GPT = dict(n_layers=1, d_model=16, n_heads=2, vocab_size=60, max_seq_len=16)
TINY_BERT = dict(n_layers=1, d_model=16, n_heads=2, d_ff=32, vocab_size=60, max_seq_len=16)


def _first_position_moves(model: nn.Module) -> bool:
    """Whether changing the last token changes the output at position 0."""
    torch.manual_seed(0)
    ids = torch.randint(1, 60, (1, 8))
    other = ids.clone()
    other[0, -1] = (other[0, -1] + 1) % 59 + 1
    with torch.no_grad():
        a, b = model(ids).last_hidden_state, model(other).last_hidden_state
    return not torch.allclose(a[:, 0], b[:, 0], atol=1e-6)


@pytest.mark.parametrize(("preset", "kwargs"), [("gpt2", TINY_GPT), ("bert-base-uncased", TINY_BERT)])
def test_causal_is_what_the_attention_does(preset: str, kwargs: dict) -> None:
    model = bm.create(preset, **kwargs).eval()
    family = family_of(model)
    assert family is not None
    assert _first_position_moves(model) is not family.causal


def test_reads_token_type_ids_matches_every_architecture_of_the_family() -> None:
    for family in family_maps():
        for architecture, load in family.architectures.items():
            takes = "token_type_ids" in inspect.signature(load().forward).parameters
            assert takes is family.reads_token_type_ids, architecture


def test_the_sequence_classifier_and_companion_are_the_familys_own() -> None:
    for family in family_maps():
        assert family.sequence_classifier in ("", *family.architectures)
        assert family.companion in ("", TOKENIZER, IMAGE_PREPROCESSOR)
    assert family_named("gpt").sequence_classifier == "GPT2ForSequenceClassification"
    assert family_named("bert").sequence_classifier == "BertForSequenceClassification"


def test_companions_and_limits_follow_the_family() -> None:
    resnet = ResNetForImageClassification(ResNetConfig(
        embedding_size=8, hidden_sizes=(8,), depths=(1,), block="basic", stem="small", num_labels=3))
    assert model_preprocessor(resnet) is not None and model_tokenizer(resnet) is None
    assert "stem" in transformers_limits(resnet)[0]
    gpt = bm.create("gpt2", **TINY_GPT)
    assert model_preprocessor(gpt) is None and transformers_limits(gpt) == []


def test_a_module_of_no_registered_family_has_none() -> None:
    assert family_of(nn.Linear(2, 2)) is None


# `x.family == "gpt"`, `family in ("gpt", ...)`, `getattr(m, "family", None) != "bert"`,
# `x.family not in LANGUAGE_FAMILIES`
FAMILY_NAME_BRANCH = re.compile(
    r"""family\b\s*(==|!=|(not\s+)?in)\s*[("'\[]"""
    r"""|"family"[^)]*\)\s*(==|!=|(not\s+)?in)\s"""
    r"""|family\s+(not\s+)?in\s+[A-Z_]*FAMILIES"""
)


def test_no_code_outside_the_registry_branches_on_a_family_name() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.parent.name == "models":
            continue  # where each family says who it is
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if FAMILY_NAME_BRANCH.search(line):
                found.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert found == []
