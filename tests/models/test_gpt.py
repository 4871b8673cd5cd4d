"""GPT against transformers' GPT2LMHeadModel: same logits both ways, odd sizes."""

from __future__ import annotations

import pytest
import torch

import bigmodel as bm
from bigmodel.models.gpt import GPT, GPTConfig

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def hf_gpt2(tmp_path_factory: pytest.TempPathFactory):
    torch.manual_seed(1)
    config = transformers.GPT2Config(
        vocab_size=101, n_positions=67, n_embd=80, n_layer=3, n_head=5, bos_token_id=0, eos_token_id=0
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    folder = tmp_path_factory.mktemp("hf-gpt2")
    model.save_pretrained(folder)
    return model, folder


def test_logits_equal_transformers(hf_gpt2) -> None:
    hf, folder = hf_gpt2
    ours = bm.load(folder)
    assert isinstance(ours, GPT)
    ids = torch.randint(0, 101, (3, 29))
    with torch.no_grad():
        assert torch.allclose(ours(ids).logits, hf(ids).logits, atol=1e-4, rtol=0)


def test_logits_equal_with_padding_mask(hf_gpt2) -> None:
    hf, folder = hf_gpt2
    ours = bm.load(folder)
    ids = torch.randint(0, 101, (3, 21))
    mask = torch.ones_like(ids)
    mask[1, 14:] = 0
    mask[2, 5:] = 0
    with torch.no_grad():
        a = ours(ids, attention_mask=mask).logits
        b = hf(ids, attention_mask=mask).logits
    real = mask.bool()
    assert (a[real] - b[real]).abs().max() <= 1e-4


def test_save_pretrained_loads_in_transformers(tmp_path) -> None:
    ours = GPT(GPTConfig(vocab_size=97, max_seq_len=67, d_model=80, n_layers=3, n_heads=5)).eval()
    ours.save_pretrained(tmp_path)
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    ids = torch.randint(0, 97, (2, 33))
    with torch.no_grad():
        assert torch.allclose(ours(ids).logits, hf(ids).logits, atol=1e-4, rtol=0)
    again = bm.load(tmp_path)
    with torch.no_grad():
        assert torch.equal(again(ids).logits, ours(ids).logits)


def test_tied_embeddings_share_storage() -> None:
    model = GPT(GPTConfig(vocab_size=50, max_seq_len=16, d_model=32, n_layers=1, n_heads=4))
    assert model.lm_head.weight is model.transformer.embeddings.token.weight
    # Counted once, like transformers' num_parameters().
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())


def test_kv_cache_logits_equal_full_forward() -> None:
    model = GPT(GPTConfig(vocab_size=61, max_seq_len=40, d_model=48, n_layers=2, n_heads=3)).eval()
    ids = torch.randint(0, 61, (2, 24))
    with torch.no_grad():
        full = model(ids).logits
        cache = model.new_kv_cache(batch_size=2)
        prefix = model(ids[:, :10], kv_cache=cache).logits
        steps = [model(ids[:, t : t + 1], kv_cache=cache).logits for t in range(10, 24)]
    assert torch.allclose(prefix, full[:, :10], atol=1e-5)
    for t, step in zip(range(10, 24), steps, strict=True):
        assert torch.allclose(step[:, 0], full[:, t], atol=1e-5), f"position {t}"


def test_labels_give_causal_lm_loss() -> None:
    model = GPT(GPTConfig(vocab_size=61, max_seq_len=40, d_model=48, n_layers=2, n_heads=3)).eval()
    ids = torch.randint(0, 61, (2, 12))
    out = model(ids, labels=ids)
    logp = torch.log_softmax(out.logits[:, :-1], dim=-1)
    expected = -logp.gather(-1, ids[:, 1:, None]).mean()
    assert torch.allclose(out.loss, expected, atol=1e-6)


def test_context_overflow_is_a_clear_error() -> None:
    model = GPT(GPTConfig(vocab_size=61, max_seq_len=8, d_model=16, n_layers=1, n_heads=2))
    with pytest.raises(ValueError, match="exceeds the context of 8"):
        model(torch.zeros(1, 9, dtype=torch.long))
