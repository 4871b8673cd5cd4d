"""Property tests (Hypothesis): tokenizer round trips, padding masks, generation length."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bigmodel.hub import create
from bigmodel.tokenization import load_tokenizer

torch.set_num_threads(1)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any Unicode except lone surrogates (not encodable as UTF-8, so not a text a user can give).
unicode_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)


@pytest.fixture(scope="module")
def gpt2_tokenizer():
    return load_tokenizer("gpt2")


@pytest.fixture(scope="module")
def wordpiece_tokenizer():
    return load_tokenizer("all-minilm-l6-v2")


@pytest.fixture(scope="module")
def tiny_gpt():
    torch.manual_seed(0)
    model = create("gpt2", n_layers=1, d_model=32, n_heads=2, vocab_size=97, max_seq_len=64)
    return model.eval()


@FAST
@given(text=unicode_text)
def test_byte_level_bpe_decode_inverts_encode(gpt2_tokenizer, text):
    ids = gpt2_tokenizer.encode(text, add_special_tokens=False)
    assert gpt2_tokenizer.decode(ids) == text


@FAST
@given(text=unicode_text)
def test_byte_level_bpe_ids_are_in_vocab(gpt2_tokenizer, text):
    ids = gpt2_tokenizer.encode(text)
    assert all(0 <= i < gpt2_tokenizer.vocab_size for i in ids)


@FAST
@given(text=unicode_text)
def test_wordpiece_round_trip_is_stable(wordpiece_tokenizer, text):
    # WordPiece lowercases, strips accents and maps unknown words to [UNK], so the text
    # does not come back; what holds is that decoding then re-encoding is a fixed point.
    ids = wordpiece_tokenizer.encode(text, add_special_tokens=False)
    decoded = wordpiece_tokenizer.decode(ids)
    again = wordpiece_tokenizer.encode(decoded, add_special_tokens=False)
    assert wordpiece_tokenizer.decode(again) == decoded
    assert all(0 <= i < wordpiece_tokenizer.vocab_size for i in ids)


@SLOW
@given(
    lengths=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    side=st.sampled_from(["right", "left"]),
    seed=st.integers(0, 2**16),
)
def test_padding_never_changes_unpadded_outputs(tiny_gpt, lengths, side, seed):
    gen = torch.Generator().manual_seed(seed)
    width = max(lengths) + 3
    batch = torch.randint(0, 97, (len(lengths), width), generator=gen)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1 if side == "right" else 0
        if side == "left":
            mask[row, width - n :] = 1
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        padded = tiny_gpt(batch, attention_mask=mask, position_ids=position_ids).logits
        for row in range(len(lengths)):
            keep = mask[row].bool()
            alone = tiny_gpt(batch[row : row + 1, keep]).logits[0]
            torch.testing.assert_close(padded[row, keep], alone, atol=1e-5, rtol=1e-5)


@SLOW
@given(
    prompt_len=st.integers(1, 8),
    max_new_tokens=st.integers(0, 12),
    do_sample=st.booleans(),
    num_beams=st.sampled_from([1, 2]),
    eos=st.one_of(st.none(), st.integers(0, 96)),
)
def test_generation_never_exceeds_max_new_tokens(
    tiny_gpt, prompt_len, max_new_tokens, do_sample, num_beams, eos
):
    torch.manual_seed(prompt_len)
    prompt = torch.randint(0, 97, (1, prompt_len))
    out = tiny_gpt.generate(
        prompt,
        max_new_tokens=max_new_tokens,
        do_sample=do_sample and num_beams == 1,
        num_beams=num_beams,
        eos_token_id=eos,
    )
    assert out.shape[0] >= 1
    assert prompt_len <= out.shape[-1] <= prompt_len + max_new_tokens
    assert torch.equal(out[0, :prompt_len], prompt[0])
