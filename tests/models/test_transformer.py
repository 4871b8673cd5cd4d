"""The Vaswani et al. Transformer: parity with torch.nn.Transformer, save/load, training, decoding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import bigmodel.hub as hub
from bigmodel.data.dates import char_tokenizer, make_pairs
from bigmodel.data.seq2seq import Seq2SeqDataset, seq2seq_collator
from bigmodel.errors import BigModelError
from bigmodel.models.transformer import Transformer, TransformerConfig, shift_tokens_right

D_MODEL, N_HEADS, D_FF = 32, 4, 64


def tiny_config(**overrides) -> TransformerConfig:
    values = dict(vocab_size=40, d_model=D_MODEL, n_heads=N_HEADS, n_encoder_layers=2,
                  n_decoder_layers=2, d_ff=D_FF, dropout=0.0, max_seq_len=64)
    return TransformerConfig(**(values | overrides))


def copy_torch_weights(ours: Transformer, theirs: nn.Transformer) -> None:
    """torch.nn.Transformer's parameters into ours, name by name.

    Self-attention's in_proj is already our fused [q; k; v] qkv_proj; cross-attention's
    in_proj splits into q_proj (the first d rows) and kv_proj (the other 2d).
    """
    d = D_MODEL

    def put(target: nn.Module, weight: torch.Tensor, bias: torch.Tensor) -> None:
        target.weight.copy_(weight)
        target.bias.copy_(bias)

    def common(our_block, their_layer) -> None:
        put(our_block.self_attn.qkv_proj, their_layer.self_attn.in_proj_weight, their_layer.self_attn.in_proj_bias)
        put(our_block.self_attn.out_proj, their_layer.self_attn.out_proj.weight, their_layer.self_attn.out_proj.bias)
        put(our_block.ffn.fc_in, their_layer.linear1.weight, their_layer.linear1.bias)
        put(our_block.ffn.fc_out, their_layer.linear2.weight, their_layer.linear2.bias)
        put(our_block.self_attn_norm, their_layer.norm1.weight, their_layer.norm1.bias)

    with torch.no_grad():
        for our_block, their_layer in zip(ours.encoder.blocks, theirs.encoder.layers, strict=True):
            common(our_block, their_layer)
            put(our_block.ffn_norm, their_layer.norm2.weight, their_layer.norm2.bias)
        for our_block, their_layer in zip(ours.decoder.blocks, theirs.decoder.layers, strict=True):
            common(our_block, their_layer)
            cross = their_layer.multihead_attn
            put(our_block.cross_attn.q_proj, cross.in_proj_weight[:d], cross.in_proj_bias[:d])
            put(our_block.cross_attn.kv_proj, cross.in_proj_weight[d:], cross.in_proj_bias[d:])
            put(our_block.cross_attn.out_proj, cross.out_proj.weight, cross.out_proj.bias)
            put(our_block.cross_attn_norm, their_layer.norm2.weight, their_layer.norm2.bias)
            put(our_block.ffn_norm, their_layer.norm3.weight, their_layer.norm3.bias)
        put(ours.encoder.final_norm, theirs.encoder.norm.weight, theirs.encoder.norm.bias)
        put(ours.decoder.final_norm, theirs.decoder.norm.weight, theirs.decoder.norm.bias)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_stacks_match_torch_nn_transformer(norm_first: bool) -> None:
    torch.manual_seed(0)
    theirs = nn.Transformer(D_MODEL, N_HEADS, num_encoder_layers=2, num_decoder_layers=2,
                            dim_feedforward=D_FF, dropout=0.0, batch_first=True, norm_first=norm_first)
    # Randomize the LayerNorms too, so that a swapped norm would show.
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            if "norm" in name:
                p.normal_(1.0 if name.endswith("weight") else 0.0, 0.3)
    # torch.nn.Transformer always ends each stack with a LayerNorm: final_norm=True matches it.
    ours = Transformer(tiny_config(norm_first=norm_first, final_norm=True))
    copy_torch_weights(ours, theirs)
    # Training mode (dropout 0) keeps torch off its nested-tensor fast path, which zeroes
    # padded positions instead of computing them.
    theirs.train()
    ours.eval()

    batch, src_len, tgt_len = 3, 7, 5
    src = torch.randn(batch, src_len, D_MODEL)
    tgt = torch.randn(batch, tgt_len, D_MODEL)
    src_mask = torch.ones(batch, src_len, dtype=torch.long)
    src_mask[1, 5:] = 0
    src_mask[2, 3:] = 0
    tgt_mask = torch.ones(batch, tgt_len, dtype=torch.long)
    tgt_mask[2, 4:] = 0
    causal = torch.ones(tgt_len, tgt_len, dtype=torch.bool).triu(1)  # True = may not look

    expected_memory = theirs.encoder(src, src_key_padding_mask=src_mask == 0)
    expected = theirs(src, tgt, tgt_mask=causal, src_key_padding_mask=src_mask == 0,
                      tgt_key_padding_mask=tgt_mask == 0, memory_key_padding_mask=src_mask == 0,
                      tgt_is_causal=True)
    with torch.no_grad():
        memory = ours.encoder_stack(src, src_mask)
        out = ours.decoder_stack(tgt, memory, tgt_mask=tgt_mask, src_mask=src_mask)
    assert (memory - expected_memory).abs().max().item() <= 1e-5
    assert (out - expected).abs().max().item() <= 1e-5


def test_post_ln_default_has_no_final_norm() -> None:
    model = Transformer(tiny_config())
    assert model.encoder.final_norm is None and model.decoder.final_norm is None
    assert Transformer(tiny_config(norm_first=True)).encoder.final_norm is not None


def test_shared_embeddings_are_one_matrix() -> None:
    model = Transformer(tiny_config())
    assert model.decoder.embeddings.token.weight is model.encoder.embeddings.token.weight
    assert model.output_weight is model.encoder.embeddings.token.weight
    separate = Transformer(tiny_config(share_embeddings=False, tie_output=False, tgt_vocab_size=30))
    assert separate.decoder.embeddings.token.weight.shape == (30, D_MODEL)
    assert separate.output_weight is separate.lm_head.weight


def test_config_errors_are_clear() -> None:
    with pytest.raises(BigModelError, match="share_embeddings"):
        tiny_config(tgt_vocab_size=30)
    with pytest.raises(BigModelError, match="divisible"):
        tiny_config(n_heads=5)
    with pytest.raises(BigModelError, match="unknown TransformerConfig key 'n_layer'"):
        TransformerConfig.from_dict({"n_layer": 2})


@pytest.mark.parametrize(
    "overrides",
    [{}, {"share_embeddings": False, "tie_output": False, "tgt_vocab_size": 30, "norm_first": True}],
    ids=["shared", "separate"],
)
def test_save_and_load_round_trip(tmp_path, overrides) -> None:
    torch.manual_seed(0)
    model = Transformer(tiny_config(**overrides)).eval()
    src = torch.randint(4, 30, (2, 6))
    labels = torch.randint(4, 30, (2, 4))
    expected = model(src, labels=labels).logits
    model.save_pretrained(tmp_path / "model")
    loaded = hub.load(tmp_path / "model")
    assert isinstance(loaded, Transformer)
    assert loaded.config == model.config
    torch.testing.assert_close(loaded(src, labels=labels).logits, expected, rtol=0, atol=0)
    if model.config.share_embeddings:
        assert loaded.decoder.embeddings.token.weight is loaded.encoder.embeddings.token.weight


def test_teacher_forcing_defaults_to_shifted_labels() -> None:
    torch.manual_seed(0)
    model = Transformer(tiny_config()).eval()
    src = torch.randint(4, 30, (2, 6))
    labels = torch.tensor([[5, 6, 7, 2], [8, 9, 2, -100]])
    decoder_input_ids = torch.tensor([[1, 5, 6, 7], [1, 8, 9, 2]])
    assert torch.equal(shift_tokens_right(labels, 1, 0), torch.tensor([[1, 5, 6, 7], [1, 8, 9, 2]]))
    a = model(src, labels=labels)
    b = model(src, decoder_input_ids=decoder_input_ids, labels=labels)
    torch.testing.assert_close(a.loss, b.loss)
    with pytest.raises(BigModelError, match="decoder_input_ids or labels"):
        model(src)


def test_cached_decoding_equals_full_decoding() -> None:
    torch.manual_seed(0)
    model = Transformer(tiny_config()).eval()
    src = torch.randint(4, 30, (2, 7))
    src_mask = torch.ones_like(src)
    src_mask[1, 4:] = 0
    tgt = torch.randint(4, 30, (2, 6))
    with torch.no_grad():
        memory = model.encode(src, src_mask)
        full = model.decode(tgt, memory, src_mask).logits
        kv_cache = model.new_kv_cache(2, 8)
        cross_cache = model.new_cross_cache(2, src.shape[1])
        # A two-token prefill, then one token at a time.
        steps = [model.decode(tgt[:, :2], memory, src_mask, kv_cache=kv_cache, cross_cache=cross_cache).logits]
        for t in range(2, tgt.shape[1]):
            steps.append(model.decode(tgt[:, t:t + 1], memory, src_mask, kv_cache=kv_cache,
                                      cross_cache=cross_cache).logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-5, atol=1e-5)
    assert len(kv_cache) == tgt.shape[1]


def test_greedy_generation_follows_argmax_of_full_decoding() -> None:
    torch.manual_seed(0)
    model = Transformer(tiny_config()).eval()
    src = torch.randint(4, 30, (2, 7))
    out = model.generate(src, max_new_tokens=6)
    assert out.shape[0] == 2 and bool((out[:, 0] == model.config.bos_token_id).all())
    with torch.no_grad():
        logits = model(src, decoder_input_ids=out[:, :-1]).logits
    for row in range(2):
        n = out.shape[1] - 1
        done = (out[row, 1:] == model.config.eos_token_id).nonzero()
        if len(done):
            n = int(done[0]) + 1
        assert torch.equal(logits[row, :n].argmax(-1), out[row, 1:n + 1])


def test_loss_falls_on_a_tiny_dates_set() -> None:
    torch.manual_seed(0)
    tokenizer = char_tokenizer()
    data = Seq2SeqDataset(make_pairs(16, seed=0), tokenizer)
    batch = seq2seq_collator(tokenizer)([data[i] for i in range(len(data))])
    model = Transformer(tiny_config(vocab_size=tokenizer.vocab_size))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_generate_uses_the_engine_with_greedy_and_beams() -> None:
    torch.manual_seed(0)
    model = Transformer(tiny_config()).eval()
    src = torch.randint(4, 30, (2, 7))
    mask = torch.ones_like(src)
    mask[0, 5:] = 0
    assert torch.equal(model.generate(src, attention_mask=mask, max_new_tokens=6),
                       model.greedy_generate(src, mask, max_new_tokens=6))
    beams = model.generate(src, attention_mask=mask, max_new_tokens=6, num_beams=3)
    assert beams.shape[0] == 2 and bool((beams[:, 0] == model.config.bos_token_id).all())
