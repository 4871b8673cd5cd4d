"""The equations of docs/concepts/encoder_decoder.md, computed by hand, equal the code."""

from __future__ import annotations

import math

import torch

from bigmodel.models.transformer import Transformer, TransformerConfig, shift_tokens_right
from bigmodel.nn import MultiHeadAttention
from bigmodel.nn.attention import make_attention_bias


def tiny() -> Transformer:
    torch.manual_seed(0)
    return Transformer(TransformerConfig(vocab_size=23, d_model=16, n_heads=2, n_encoder_layers=2,
                                         n_decoder_layers=2, d_ff=32, max_seq_len=16, dropout=0.0)).eval()


def test_cross_attention_is_softmax_of_decoder_queries_on_encoder_keys() -> None:
    d, nh = 12, 3
    attn = MultiHeadAttention(d, nh, cross_attention=True).eval()
    h, memory = torch.randn(2, 4, d), torch.randn(2, 6, d)  # (B, T, d) decoder, (B, S, d) memory
    src_mask = torch.ones(2, 6, dtype=torch.long)
    src_mask[1, 4:] = 0  # the second source is padded after 4 tokens
    w_k, w_v = attn.kv_proj.weight.split(d)
    b_k, b_v = attn.kv_proj.bias.split(d)
    q = h @ attn.q_proj.weight.T + attn.q_proj.bias
    k, v = memory @ w_k.T + b_k, memory @ w_v.T + b_v
    m_src = torch.zeros(2, 1, 6).masked_fill(src_mask[:, None, :] == 0, float("-inf"))
    heads, weights = [], []
    for i in range(nh):
        cols = slice(i * 4, (i + 1) * 4)
        w = torch.softmax(q[..., cols] @ k[..., cols].transpose(-2, -1) / math.sqrt(4) + m_src, dim=-1)
        weights.append(w)
        heads.append(w @ v[..., cols])
    by_hand = torch.cat(heads, dim=-1) @ attn.out_proj.weight.T + attn.out_proj.bias
    out, got_weights = attn(h, context=memory, attn_bias=make_attention_bias(src_mask, h.dtype), need_weights=True)
    assert torch.allclose(out, by_hand, atol=1e-5)
    assert torch.allclose(got_weights, torch.stack(weights, dim=1), atol=1e-6)
    assert torch.all(got_weights[1, :, :, 4:] == 0)  # no target position looks at source padding


def test_teacher_forced_loss_is_mean_negative_log_likelihood() -> None:
    model = tiny()
    src = torch.randint(3, 23, (2, 7))
    labels = torch.randint(3, 23, (2, 5))
    labels[1, 3:] = -100  # padding after the second target's EOS is not scored
    out = model(src, labels=labels)
    decoder_input = shift_tokens_right(labels, model.config.bos_token_id, model.config.pad_token_id)
    assert decoder_input[0, 0] == model.config.bos_token_id and torch.equal(decoder_input[0, 1:], labels[0, :-1])
    log_p = out.logits.log_softmax(-1)
    scored = labels != -100
    by_hand = -log_p[scored].gather(-1, labels[scored][:, None]).mean()
    assert torch.allclose(out.loss, by_hand, atol=1e-6)


def test_cached_step_by_step_decoding_equals_the_full_pass() -> None:
    model = tiny()
    src = torch.randint(3, 23, (2, 7))
    tgt = torch.cat([torch.full((2, 1), model.config.bos_token_id), torch.randint(3, 23, (2, 5))], dim=1)
    with torch.no_grad():
        memory = model.encode(src)
        full = model.decode(tgt, memory).logits  # (B, T, V), all positions at once
        cache, cross = model.new_kv_cache(2, tgt.shape[1]), model.new_cross_cache(2, src.shape[1])
        steps = [model.decode(tgt[:, t: t + 1], memory, kv_cache=cache, cross_cache=cross).logits
                 for t in range(tgt.shape[1])]
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)
    assert len(cross) == src.shape[1]  # the memory's keys and values, projected once
