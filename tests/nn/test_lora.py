"""LoRA: only adapters train, base weights stay bit-identical, merging changes nothing."""

from __future__ import annotations

import pytest
import torch

from bigmodel.errors import BigModelError
from bigmodel.models.bert import BertConfig, BertForSequenceClassification
from bigmodel.models.gpt import GPTConfig, GPTForSequenceClassification
from bigmodel.nn.lora import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    LoRALinear,
    apply_lora,
    count_trainable,
    load_adapter,
    lora_layers,
    lora_state_dict,
    merge_lora,
    save_adapter,
)


def _bert() -> BertForSequenceClassification:
    return BertForSequenceClassification(BertConfig(vocab_size=50, max_seq_len=16, d_model=32, n_layers=2,
                                                    n_heads=4, d_ff=64, num_labels=2, dropout=0.0,
                                                    attn_dropout=0.0))


def _train_a_little(model: torch.nn.Module, steps: int = 5) -> list[float]:
    torch.manual_seed(1)
    ids = torch.randint(1, 50, (8, 10))
    labels = (ids[:, 1] > 25).long()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    model.train()
    for _ in range(steps):
        loss = model(ids, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_only_adapters_and_head_train_and_base_stays_bit_identical() -> None:
    model = _bert()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    apply_lora(model, rank=4, alpha=8, target_modules=("qkv_proj", "out_proj"))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_" in n or n.startswith("classifier.") for n in trainable)
    assert any(n.startswith("classifier.") for n in trainable)
    losses = _train_a_little(model)
    assert losses[-1] < losses[0]
    after = model.state_dict()
    for key, value in before.items():
        if key.startswith("classifier."):
            assert not torch.equal(after[key], value)
        else:
            assert torch.equal(after[key], value), key
    n_trainable, n_total = count_trainable(model)
    assert n_trainable < n_total / 5


def test_fresh_adapter_is_the_identity_and_merge_equals_unmerged() -> None:
    model = _bert().eval()
    ids = torch.randint(1, 50, (3, 9))
    with torch.no_grad():
        plain = model(ids).logits
    apply_lora(model, rank=2, alpha=4)
    with torch.no_grad():
        assert torch.equal(model(ids).logits, plain)  # B = 0 at the start
    _train_a_little(model)
    model.eval()
    with torch.no_grad():
        adapted = model(ids).logits
        merge_lora(model)
        merged = model(ids).logits
    assert not lora_layers(model)
    assert all(type(m) is not LoRALinear for m in model.modules())
    assert torch.allclose(merged, adapted, atol=1e-5, rtol=0)
    assert not torch.allclose(merged, plain, atol=1e-3)


def test_adapter_saves_alone_and_loads_back(tmp_path) -> None:
    model = _bert()
    apply_lora(model, rank=4, alpha=8, dropout=0.1)
    _train_a_little(model)
    model.eval()
    save_adapter(model, tmp_path, base_model="tiny", extra={"id2label": {"0": "a", "1": "b"}})
    assert (tmp_path / ADAPTER_WEIGHTS).is_file() and (tmp_path / ADAPTER_CONFIG).is_file()
    keys = set(lora_state_dict(model))
    assert all(k.startswith("base_model.model.") for k in keys)
    assert "base_model.model.bert.blocks.0.self_attn.qkv_proj.lora_A.weight" in keys
    assert not any(k.endswith("qkv_proj.weight") for k in keys)  # base weights are not saved

    # A fresh model with the same base weights + the adapter = the trained model.
    fresh = _bert()
    fresh.load_state_dict({k: v for k, v in model.state_dict().items() if "lora_" not in k}, strict=False)
    load_adapter(fresh.eval(), tmp_path)
    ids = torch.randint(1, 50, (2, 7))
    with torch.no_grad():
        assert torch.equal(fresh(ids).logits, model(ids).logits)


def test_gpt_classifier_takes_lora_on_its_score_head() -> None:
    model = GPTForSequenceClassification(GPTConfig(vocab_size=50, max_seq_len=16, d_model=32, n_layers=2,
                                                   n_heads=4, pad_token_id=0))
    apply_lora(model, rank=2)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "score.weight" in trainable
    assert not any("embeddings" in n for n in trainable)


def test_bad_settings_are_clear() -> None:
    with pytest.raises(BigModelError, match="qkv_proj"):
        apply_lora(_bert(), target_modules=("query",))
    with pytest.raises(BigModelError, match="rank"):
        apply_lora(_bert(), rank=0)
    model = apply_lora(_bert())
    with pytest.raises(BigModelError, match="already"):
        apply_lora(model)
    with pytest.raises(BigModelError, match="adapter_config"):
        load_adapter(_bert(), "/nonexistent")


def test_merged_state_dict_builds_the_merged_model_without_touching_the_adapted_one() -> None:
    from bigmodel.nn.lora import merged_state_dict

    model = apply_lora(_bert(), rank=2)
    _train_a_little(model)
    model.eval()
    plain = _bert().eval()
    plain.load_state_dict(merged_state_dict(model))
    assert lora_layers(model)
    ids = torch.randint(1, 50, (2, 6))
    with torch.no_grad():
        assert torch.allclose(plain(ids).logits, model(ids).logits, atol=1e-5, rtol=0)
