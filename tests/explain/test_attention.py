"""Attention maps: proper distributions, causal where they must be, same output as the fast path."""

from __future__ import annotations

import json

import pytest
import torch

from bigmodel.errors import BigModelError
from bigmodel.explain import attention_maps, rollout, save_attention
from bigmodel.hub import create
from bigmodel.models.bert import BertConfig, BertModel
from bigmodel.models.transformer import Transformer, TransformerConfig
from bigmodel.nn.attention import MultiHeadAttention, scaled_dot_product_attention

TINY = dict(n_layers=2, d_model=32, n_heads=4, dropout=0.0, attn_dropout=0.0)


@pytest.fixture(scope="module")
def gpt():
    torch.manual_seed(0)
    return create("gpt2", **TINY).eval()


@pytest.fixture(scope="module")
def bert():
    torch.manual_seed(0)
    return BertModel(BertConfig(vocab_size=100, d_ff=64, **TINY)).eval()


def test_gpt_rows_sum_to_one_and_zero_above_diagonal(gpt):
    maps = attention_maps(gpt, [5, 17, 42, 7, 9, 300])
    w = maps.weights["self"]
    assert w.shape == (2, 4, 6, 6)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 4, 6))
    upper = torch.triu(torch.ones(6, 6, dtype=torch.bool), diagonal=1)
    assert (w[..., upper] == 0).all()
    assert maps.causal["self"]


def test_bert_rows_sum_to_one_and_see_both_ways(bert):
    maps = attention_maps(bert, [1, 5, 6, 7, 2])
    w = maps.weights["self"]
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 4, 5))
    upper = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    assert (w[..., upper] > 0).all()


def test_transformer_gives_encoder_decoder_and_cross_maps():
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(vocab_size=50, d_model=32, n_heads=4, d_ff=64, n_encoder_layers=2,
                                          n_decoder_layers=3, dropout=0.0, max_seq_len=32)).eval()
    maps = attention_maps(model, [5, 6, 7, 8], target=[9, 10, 11])
    assert maps.weights["encoder"].shape == (2, 4, 4, 4)
    assert maps.weights["decoder"].shape == (3, 4, 4, 4)  # BOS + 3 target tokens
    assert maps.weights["cross"].shape == (3, 4, 4, 4)
    for w in maps.weights.values():
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1]))
    upper = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1)
    assert (maps.weights["decoder"][..., upper] == 0).all()


@pytest.mark.parametrize("causal", [False, True])
def test_explicit_path_equals_fast_path(causal):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 4, 7, 8) for _ in range(3))
    mask = torch.ones(2, 7)
    mask[1, :2] = 0
    bias = torch.zeros(2, 1, 1, 7).masked_fill(mask[:, None, None, :] == 0, torch.finfo(torch.float32).min)
    fast, none = scaled_dot_product_attention(q, k, v, bias, is_causal=causal)
    slow, weights = scaled_dot_product_attention(q, k, v, bias, is_causal=causal, need_weights=True)
    assert none is None and weights is not None
    torch.testing.assert_close(slow, fast, atol=1e-5, rtol=1e-5)


def test_model_output_is_the_same_with_and_without_weights(gpt, bert):
    ids = torch.tensor([[5, 17, 42, 7, 9, 300]])
    torch.testing.assert_close(gpt(ids, output_attentions=True).logits, gpt(ids).logits, atol=1e-5, rtol=1e-5)
    ids = torch.tensor([[1, 5, 6, 7, 2]])
    torch.testing.assert_close(bert(ids, output_attentions=True).last_hidden_state,
                               bert(ids).last_hidden_state, atol=1e-5, rtol=1e-5)
    mha = MultiHeadAttention(32, 4).eval()
    x = torch.randn(1, 5, 32)
    torch.testing.assert_close(mha(x, need_weights=True)[0], mha(x)[0], atol=1e-5, rtol=1e-5)


def test_rollout_rows_are_distributions_and_identity_without_mixing():
    eye = torch.eye(5).expand(3, 2, 5, 5)
    torch.testing.assert_close(rollout(eye), torch.eye(5))
    w = torch.softmax(torch.randn(3, 2, 5, 5), dim=-1)
    torch.testing.assert_close(rollout(w).sum(-1), torch.ones(5))


def test_select_layers_heads_and_truncate_long_text(gpt):
    maps = attention_maps(gpt, list(range(1, 41)), layers=[1], heads=[0, 3], max_tokens=16)
    assert maps.weights["self"].shape == (1, 2, 16, 16)
    assert maps.layers["self"] == [1] and maps.heads == [0, 3]
    assert any("16 of 40" in n for n in maps.notices)
    assert maps.to_dict()["rollout"] is None  # rollout needs every layer


def test_bad_layer_and_empty_text_are_clear_errors(gpt):
    with pytest.raises(BigModelError, match="layer 7"):
        attention_maps(gpt, [1, 2, 3], layers=[7])
    from bigmodel.tokenization import load_tokenizer

    tok = load_tokenizer("all-minilm-l6-v2")
    bert = BertModel(BertConfig(vocab_size=tok.vocab_size, d_ff=64, **TINY)).eval()
    with pytest.raises(BigModelError, match="empty after tokenization"):
        attention_maps(bert, "   \u200b ", tok)


def test_pictures_and_json_are_written(gpt, tmp_path):
    from bigmodel.tokenization import load_tokenizer

    maps = attention_maps(gpt, "The cat sat on the mat", load_tokenizer("gpt2"))
    for name, kw in (("avg.png", {}), ("grid.png", {"layer": 1}), ("one.png", {"layer": 0, "head": 2}),
                     ("roll.png", {"view": "rollout"})):
        path = save_attention(maps, tmp_path / name, **kw)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(save_attention(maps, tmp_path / "maps.json").read_text())
    assert data["tokens"][1] == "▁cat"
    assert len(data["weights"]["self"]) == 2 and len(data["rollout"]) == 6
    with pytest.raises(BigModelError, match="not captured"):
        save_attention(maps, tmp_path / "x.png", layer=5)
    with pytest.raises(BigModelError, match=".png or .json"):
        save_attention(maps, tmp_path / "x.gif")
