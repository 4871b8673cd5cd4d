"""Logit lens: the last layer's readout is the model's own prediction."""

from __future__ import annotations

import pytest
import torch

from bigmodel.errors import BigModelError
from bigmodel.explain import lens_logits, logit_lens, save_logit_lens
from bigmodel.hub import create
from bigmodel.models.bert import BertConfig, BertModel


@pytest.fixture(scope="module")
def gpt():
    torch.manual_seed(0)
    return create("gpt2", n_layers=3, d_model=32, n_heads=4, dropout=0.0, attn_dropout=0.0).eval()


def test_last_layer_equals_the_model_prediction(gpt):
    ids = torch.tensor([[464, 3797, 3332, 319, 262]])
    with torch.no_grad():
        lens = lens_logits(gpt, ids)
        logits = gpt(ids).logits
    assert lens.shape == (4, 1, 5, gpt.config.vocab_size)
    torch.testing.assert_close(lens[-1], logits)
    result = logit_lens(gpt, ids[0].tolist(), top_k=3)
    assert result.top_ids[-1][-1][0] == int(logits[0, -1].argmax())
    assert result.layers == ["embeddings", "layer 1", "layer 2", "layer 3"]


def test_earlier_layers_apply_the_final_layernorm(gpt):
    ids = torch.tensor([[464, 3797]])
    with torch.no_grad():
        lens = lens_logits(gpt, ids)
        h0 = gpt(ids, output_hidden_states=True).hidden_states[0]
        expected = gpt.lm_head(gpt.transformer.final_norm(h0))
    torch.testing.assert_close(lens[0], expected)


def test_outputs_and_errors(gpt, tmp_path):
    from bigmodel.tokenization import load_tokenizer

    result = logit_lens(gpt, "The capital of France is", load_tokenizer("gpt2"))
    assert "layer 3" in result.table()
    assert save_logit_lens(result, tmp_path / "lens.png").read_bytes()[:4] == b"\x89PNG"
    assert "embeddings" in save_logit_lens(result, tmp_path / "lens.txt").read_text()
    with pytest.raises(BigModelError, match="GPT language model"):
        logit_lens(BertModel(BertConfig(vocab_size=50, n_layers=1, d_model=16, n_heads=2, d_ff=32)), [1, 2])
    with pytest.raises(BigModelError, match="top_k"):
        logit_lens(gpt, [1, 2], top_k=0)
