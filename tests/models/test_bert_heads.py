"""BERT's question-answering and token-classification heads against transformers, both ways."""

from __future__ import annotations

import pytest
import torch

import bigmodel as bm
from bigmodel.models.bert import BertConfig, BertForQuestionAnswering, BertForTokenClassification

transformers = pytest.importorskip("transformers")

HF_CONFIG = dict(vocab_size=103, max_position_embeddings=67, hidden_size=80, num_hidden_layers=2,
                 num_attention_heads=5, intermediate_size=96)
FIELDS = {"BertForQuestionAnswering": ("start_logits", "end_logits"),
          "BertForTokenClassification": ("logits",)}


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ids = torch.randint(0, 103, (3, 19))
    types = torch.zeros_like(ids)
    types[:, 9:] = 1
    mask = torch.ones_like(ids)
    mask[1, 14:] = 0
    return ids, types, mask


@pytest.mark.parametrize("cls_name", list(FIELDS))
def test_logits_equal_transformers_both_ways(tmp_path, cls_name: str) -> None:
    torch.manual_seed(3)
    extra = {"id2label": {0: "O", 1: "B-PER", 2: "I-PER"}} if cls_name == "BertForTokenClassification" else {}
    hf = getattr(transformers, cls_name)(transformers.BertConfig(**HF_CONFIG, **extra)).eval()
    hf.save_pretrained(tmp_path / "hf")
    ours = bm.load(tmp_path / "hf")
    assert ours.architecture == cls_name
    ids, types, mask = _inputs()
    real = mask.bool()
    with torch.no_grad():
        a = ours(ids, attention_mask=mask, token_type_ids=types)
        b = hf(ids, attention_mask=mask, token_type_ids=types)
    for field in FIELDS[cls_name]:
        assert (getattr(a, field) - getattr(b, field))[real].abs().max() <= 1e-5
    ours.save_pretrained(tmp_path / "ours")
    back = getattr(transformers, cls_name).from_pretrained(tmp_path / "ours").eval()
    with torch.no_grad():
        c = back(ids, attention_mask=mask, token_type_ids=types)
    for field in FIELDS[cls_name]:
        assert (getattr(c, field) - getattr(b, field))[real].abs().max() <= 1e-5
    if extra:
        assert back.config.id2label == extra["id2label"]
        assert back.config.label2id == {"O": 0, "B-PER": 1, "I-PER": 2}


def _config() -> BertConfig:
    return BertConfig(vocab_size=50, max_seq_len=16, d_model=32, n_layers=1, n_heads=4, d_ff=64)


def test_span_loss_is_mean_of_start_and_end_cross_entropy() -> None:
    model = BertForQuestionAnswering(_config()).eval()
    ids = torch.randint(0, 50, (2, 10))
    starts, ends = torch.tensor([2, 4]), torch.tensor([3, 40])  # 40: outside, ignored
    out = model(ids, start_positions=starts, end_positions=ends)
    ce = torch.nn.functional.cross_entropy
    expected = (ce(out.start_logits, starts) + ce(out.end_logits[:1], ends[:1])) / 2
    assert torch.allclose(out.loss, expected, atol=1e-6)
    assert out.start_logits.shape == out.end_logits.shape == (2, 10)


def test_token_loss_skips_minus_100() -> None:
    model = BertForTokenClassification(_config().replace(id2label={0: "O", 1: "B-X", 2: "I-X"})).eval()
    ids = torch.randint(0, 50, (2, 6))
    labels = torch.tensor([[-100, 1, 2, -100, 0, -100], [-100, 0, 0, 1, -100, -100]])
    out = model(ids, labels=labels)
    keep = labels != -100
    expected = torch.nn.functional.cross_entropy(out.logits[keep], labels[keep])
    assert torch.allclose(out.loss, expected, atol=1e-6)
    assert out.logits.shape == (2, 6, 3)
