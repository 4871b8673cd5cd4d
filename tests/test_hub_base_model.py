"""A folder that ships only its trained tensors and names a ``base_model`` for the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import bigmodel as bm
from bigmodel.errors import BigModelError
from bigmodel.models.bert import BertConfig, BertForMaskedLM, BertModel


def _folders(tmp_path: Path) -> tuple[Path, Path, BertForMaskedLM]:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=40, d_model=16, n_heads=2, d_ff=32, n_layers=2, max_seq_len=16)
    base = BertModel(config).eval()
    base.save_pretrained(tmp_path / "base")
    trained = BertForMaskedLM(config)
    trained.bert.load_state_dict(base.state_dict(), strict=False)
    with torch.no_grad():
        trained.bert.blocks[1].ffn.fc_in.weight.add_(1.0)  # the "trained" top layer
    trained.save_pretrained(tmp_path / "full")
    state = load_file(str(tmp_path / "full" / "model.safetensors"))
    base_state = load_file(str(tmp_path / "base" / "model.safetensors"))
    from_base = [k for k in state if base_state.get(k.removeprefix("bert.")) is not None
                 and torch.equal(base_state[k.removeprefix("bert.")], state[k])]
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    save_file({k: v for k, v in state.items() if k not in from_base}, str(shipped / "model.safetensors"))
    config_json = json.loads((tmp_path / "full" / "config.json").read_text())
    config_json |= {"base_model": str(tmp_path / "base"), "base_model_tensors": from_base}
    (shipped / "config.json").write_text(json.dumps(config_json))
    assert from_base and len(from_base) < len(state)
    return shipped, tmp_path / "full", trained


def test_shipped_tensors_over_the_base_give_the_trained_model(tmp_path: Path) -> None:
    shipped, full, _ = _folders(tmp_path)
    ids = torch.tensor([[2, 5, 4, 7, 3]])
    assert torch.allclose(bm.load(shipped)(ids).logits, bm.load(full)(ids).logits, atol=1e-6)


def test_a_tensor_missing_from_the_base_is_one_clear_error(tmp_path: Path) -> None:
    shipped, _, _ = _folders(tmp_path)
    config = json.loads((shipped / "config.json").read_text())
    config["base_model_tensors"].append("bert.no.such.weight")
    (shipped / "config.json").write_text(json.dumps(config))
    with pytest.raises(BigModelError, match="has no tensor 'bert.no.such.weight'"):
        bm.load(shipped)


def test_a_base_model_that_is_not_a_name_is_refused(tmp_path: Path) -> None:
    shipped, _, _ = _folders(tmp_path)
    config = json.loads((shipped / "config.json").read_text()) | {"base_model": 3}
    (shipped / "config.json").write_text(json.dumps(config))
    with pytest.raises(BigModelError, match="base_model must name a model"):
        bm.load(shipped)
