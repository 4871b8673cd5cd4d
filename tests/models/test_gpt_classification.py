"""GPTForSequenceClassification against transformers' GPT2ForSequenceClassification."""

from __future__ import annotations

import pytest
import torch

import bigmodel as bm
from bigmodel.models.gpt import GPT, GPTConfig, GPTForSequenceClassification

transformers = pytest.importorskip("transformers")

PAD = 3


def _padded_batch() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(4, 101, (3, 17))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    mask[2, 4:] = 0
    return ids.masked_fill(mask == 0, PAD), mask


def test_transformers_checkpoint_gives_equal_logits(tmp_path) -> None:
    config = transformers.GPT2Config(vocab_size=101, n_positions=40, n_embd=48, n_layer=2, n_head=4,
                                     pad_token_id=PAD, num_labels=3)
    hf = transformers.GPT2ForSequenceClassification(config).eval()
    hf.save_pretrained(tmp_path)
    ours = bm.load(tmp_path)
    assert isinstance(ours, GPTForSequenceClassification)
    ids, mask = _padded_batch()
    with torch.no_grad():
        expected = hf(ids, attention_mask=mask).logits
        assert torch.allclose(ours(ids, attention_mask=mask).logits, expected, atol=1e-5, rtol=0)
        # Without a mask the pad id finds the last real token, as in transformers.
        assert torch.allclose(ours(ids).logits, expected, atol=1e-5, rtol=0)


def test_saved_classifier_loads_in_transformers_with_labels(tmp_path) -> None:
    labels = {0: "neg", 1: "neu", 2: "pos"}
    ours = GPTForSequenceClassification(GPTConfig(vocab_size=101, max_seq_len=40, d_model=48, n_layers=2,
                                                  n_heads=4, pad_token_id=PAD, num_labels=3,
                                                  id2label=labels)).eval()
    ours.save_pretrained(tmp_path)
    hf = transformers.GPT2ForSequenceClassification.from_pretrained(tmp_path).eval()
    assert hf.config.id2label == labels
    ids, mask = _padded_batch()
    with torch.no_grad():
        assert torch.allclose(ours(ids, attention_mask=mask).logits, hf(ids, attention_mask=mask).logits,
                              atol=1e-5, rtol=0)
    assert bm.load(tmp_path).config.id2label == labels


def test_language_model_checkpoint_starts_a_classifier(tmp_path) -> None:
    lm = GPT(GPTConfig(vocab_size=101, max_seq_len=40, d_model=48, n_layers=2, n_heads=4))
    lm.save_pretrained(tmp_path)
    clf = bm.load(tmp_path, architecture="GPT2ForSequenceClassification")
    assert torch.equal(clf.transformer.blocks[0].self_attn.qkv_proj.weight,
                       lm.transformer.blocks[0].self_attn.qkv_proj.weight)
    ids = torch.randint(0, 101, (2, 5))
    loss = clf.train()(ids, labels=torch.tensor([0, 1])).loss
    loss.backward()
    assert clf.score.weight.grad is not None
