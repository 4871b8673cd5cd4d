"""The fixed-shape decoding step (what --compile compiles) decodes exactly like the eager path."""

from __future__ import annotations

import torch

from bigmodel.decoding import generate
from bigmodel.models.gpt import GPT, STATIC_CACHE_BUCKET, GPTConfig, StaticDecodeStep


def _model() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=200, max_seq_len=300, d_model=32, n_layers=2, n_heads=4)).eval()


def _with_static_step(model: GPT) -> GPT:
    step = StaticDecodeStep(model)

    def counted(*args):
        model.static_steps += 1
        return step(*args)

    model.static_steps = 0
    model.use_static_decode_step(counted)
    return model


def test_greedy_left_padded_batch_and_beams_equal_eager() -> None:
    model = _model()
    ids = torch.randint(1, 200, (3, 7))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    mask[2, :5] = 0
    ids = ids.masked_fill(mask == 0, 0)
    greedy = generate(model, ids, attention_mask=mask, max_new_tokens=15, eos_token_id=None, pad_token_id=0)
    beams = generate(model, ids[:1], max_new_tokens=10, num_beams=3, eos_token_id=None)
    sampled = generate(model, ids[:1], max_new_tokens=10, do_sample=True, top_k=20, seed=3, eos_token_id=None)
    static = _with_static_step(model)
    assert torch.equal(generate(static, ids, attention_mask=mask, max_new_tokens=15, eos_token_id=None,
                                pad_token_id=0), greedy)
    assert torch.equal(generate(static, ids[:1], max_new_tokens=10, num_beams=3, eos_token_id=None), beams)
    assert torch.equal(generate(static, ids[:1], max_new_tokens=10, do_sample=True, top_k=20, seed=3,
                                eos_token_id=None), sampled)
    assert static.static_steps == 14 + 9 + 9  # every token after each prompt's first


def test_cache_length_is_rounded_to_the_bucket_and_capped_by_the_context() -> None:
    model = _with_static_step(_model())
    assert model.new_kv_cache(1, 20).max_len == STATIC_CACHE_BUCKET
    assert model.new_kv_cache(1, STATIC_CACHE_BUCKET + 1).max_len == 2 * STATIC_CACHE_BUCKET
    assert model.new_kv_cache(1, 299).max_len == 300


def test_compile_for_decoding_is_asked_of_the_model_once(monkeypatch) -> None:
    from bigmodel.decoding.compiled import compile_for_decoding
    from bigmodel.models.bert import BertConfig, BertModel

    calls = []  # what would be compiled: torch.compile itself is slow to import, stand it in

    def fake_compile(fn, **options):
        calls.append((type(getattr(fn, "__self__", fn)).__name__, options.get("dynamic")))
        return fn

    monkeypatch.setattr(torch, "compile", fake_compile)
    gpt = _model()
    assert compile_for_decoding(gpt) is gpt and gpt.compile_for_decoding() is gpt
    assert calls == [("StaticDecodeStep", False)]  # GPT on a CPU: the fixed-shape step, once
    assert gpt.new_kv_cache(1, 20).max_len == STATIC_CACHE_BUCKET
    bert = BertModel(BertConfig(vocab_size=50, max_seq_len=16, d_model=32, n_layers=1, n_heads=4))
    compile_for_decoding(bert)
    bert.compile_for_decoding()
    assert calls[1:] == [("BertModel", True)]  # other models: forward, dynamic shapes, once
