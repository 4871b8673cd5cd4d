"""BERT against transformers: pretraining (MLM + NSP), masked LM, classification, encoder."""

from __future__ import annotations

import pytest
import torch

import bigmodel as bm
from bigmodel.models.bert import BertConfig, BertForPreTraining, BertForSequenceClassification

transformers = pytest.importorskip("transformers")

HF_CONFIG = dict(
    vocab_size=103,
    max_position_embeddings=67,
    hidden_size=80,
    num_hidden_layers=3,
    num_attention_heads=5,
    intermediate_size=96,
)


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ids = torch.randint(0, 103, (3, 23))
    token_types = torch.zeros_like(ids)
    token_types[:, 12:] = 1
    mask = torch.ones_like(ids)
    mask[1, 17:] = 0
    mask[2, 6:] = 0
    return ids, token_types, mask


def _save(cls_name: str, folder, **extra):
    torch.manual_seed(2)
    config = transformers.BertConfig(**HF_CONFIG, **extra)
    model = getattr(transformers, cls_name)(config).eval()
    model.save_pretrained(folder)
    return model


@pytest.mark.parametrize("use_mask", [False, True])
def test_pretraining_mlm_and_nsp_logits_equal(tmp_path, use_mask: bool) -> None:
    hf = _save("BertForPreTraining", tmp_path)
    ours = bm.load(tmp_path)
    assert isinstance(ours, BertForPreTraining)
    ids, types, mask = _inputs()
    mask = mask if use_mask else None
    with torch.no_grad():
        a = ours(ids, attention_mask=mask, token_type_ids=types)
        b = hf(ids, attention_mask=mask, token_type_ids=types)
    real = mask.bool() if mask is not None else torch.ones_like(ids, dtype=torch.bool)
    assert (a.mlm_logits - b.prediction_logits)[real].abs().max() <= 1e-4
    assert (a.nsp_logits - b.seq_relationship_logits).abs().max() <= 1e-4


@pytest.mark.parametrize("cls_name", ["BertForMaskedLM", "BertForSequenceClassification", "BertModel"])
def test_heads_equal_transformers_both_ways(tmp_path, cls_name: str) -> None:
    hf = _save(cls_name, tmp_path / "hf", num_labels=3)
    ours = bm.load(tmp_path / "hf")
    assert ours.architecture == cls_name
    ids, types, mask = _inputs()
    field = "last_hidden_state" if cls_name == "BertModel" else "logits"
    with torch.no_grad():
        a = getattr(ours(ids, attention_mask=mask, token_type_ids=types), field)
        b = getattr(hf(ids, attention_mask=mask, token_type_ids=types), field)
    if field == "last_hidden_state":
        a, b = a[mask.bool()], b[mask.bool()]
    assert (a - b).abs().max() <= 1e-4
    # The reverse: bigmodel saves, transformers loads, same numbers.
    ours.save_pretrained(tmp_path / "ours")
    back = getattr(transformers, cls_name).from_pretrained(tmp_path / "ours").eval()
    with torch.no_grad():
        c = getattr(back(ids, attention_mask=mask, token_type_ids=types), field)
    if field == "last_hidden_state":
        c = c[mask.bool()]
    assert (c - b).abs().max() <= 1e-4


def test_pretraining_checkpoint_loads_as_classifier_with_fresh_head(tmp_path) -> None:
    _save("BertForPreTraining", tmp_path)
    model = bm.load(tmp_path, architecture="BertForSequenceClassification")
    assert isinstance(model, BertForSequenceClassification)
    assert model(torch.randint(0, 103, (2, 7))).logits.shape == (2, 2)


def test_pretraining_loss_is_mlm_plus_nsp() -> None:
    model = BertForPreTraining(BertConfig(vocab_size=50, max_seq_len=16, d_model=32, n_layers=1,
                                          n_heads=4, d_ff=64)).eval()
    ids = torch.randint(0, 50, (2, 10))
    labels = torch.full_like(ids, -100)
    labels[:, 3] = ids[:, 3]
    nsp = torch.tensor([0, 1])
    out = model(ids, labels=labels, next_sentence_label=nsp)
    mlm = torch.nn.functional.cross_entropy(out.mlm_logits[:, 3], ids[:, 3])
    nsp_loss = torch.nn.functional.cross_entropy(out.nsp_logits, nsp)
    assert torch.allclose(out.loss, mlm + nsp_loss, atol=1e-6)
    assert model.mlm_head.decoder.weight is model.bert.embeddings.token.weight


def test_padding_does_not_change_real_positions() -> None:
    model = bm.create("all-minilm-l6-v2", n_layers=2).eval()
    ids = torch.randint(1000, 2000, (1, 9))
    padded = torch.cat([ids, torch.zeros(1, 5, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 9), torch.zeros(1, 5)], dim=1).long()
    with torch.no_grad():
        a = model(ids).last_hidden_state
        b = model(padded, attention_mask=mask).last_hidden_state[:, :9]
    assert torch.allclose(a, b, atol=1e-5)
