"""Greedy, beam search and sampling against transformers' generate on tiny random GPT-2s."""

from __future__ import annotations

import pytest
import torch

from bigmodel.decoding import DecodeLoop, generate
from bigmodel.errors import BigModelError

EOS = 98  # the tiny checkpoints' EOS id (see conftest.py)


def hf_generate(hf, ids, **kw):
    kw.setdefault("pad_token_id", 0)
    with torch.no_grad():
        return hf.generate(ids, do_sample=False, **kw)


def frequent_token(hf, ids, mask) -> int:
    """A token greedy decoding produces often: as EOS it makes rows finish at different steps."""
    out = hf_generate(hf, ids, attention_mask=mask, max_new_tokens=12)[:, ids.shape[1]:]
    return int(torch.mode(out.flatten()).values)


def test_greedy_20_tokens_identical_to_transformers(tiny_gpt2) -> None:
    hf, ours = tiny_gpt2
    ids = torch.randint(0, EOS, (1, 9))
    expected = hf_generate(hf, ids, max_new_tokens=20)
    assert torch.equal(generate(ours, ids, max_new_tokens=20), expected)
    assert torch.equal(ours.generate(ids, max_new_tokens=20), expected)


def test_greedy_left_padded_batch_identical(tiny_gpt2, left_padded_batch) -> None:
    hf, ours = tiny_gpt2
    ids, mask = left_padded_batch
    eos = frequent_token(hf, ids, mask)
    expected = hf_generate(hf, ids, attention_mask=mask, max_new_tokens=15, eos_token_id=eos)
    got = generate(ours, ids, attention_mask=mask, max_new_tokens=15, eos_token_id=eos, pad_token_id=0)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("length_penalty,early_stopping", [(1.0, False), (2.0, True), (-0.5, "never")])
def test_beam_search_identical_to_transformers(tiny_gpt2, left_padded_batch, length_penalty, early_stopping) -> None:
    hf, ours = tiny_gpt2
    ids, mask = left_padded_batch
    eos = frequent_token(hf, ids, mask)
    kw = dict(attention_mask=mask, max_new_tokens=12, num_beams=4, length_penalty=length_penalty,
              early_stopping=early_stopping, num_return_sequences=2, eos_token_id=eos)
    expected = hf_generate(hf, ids, **kw)
    got = generate(ours, ids, pad_token_id=0, **kw)
    assert torch.equal(got, expected)


def test_processors_in_greedy_identical(tiny_gpt2, left_padded_batch) -> None:
    hf, ours = tiny_gpt2
    ids, mask = left_padded_batch
    kw = dict(attention_mask=mask, max_new_tokens=15, repetition_penalty=1.5, no_repeat_ngram_size=2,
              bad_words_ids=[[5], [6, 7]])
    assert torch.equal(generate(ours, ids, pad_token_id=0, **kw), hf_generate(hf, ids, **kw))


def test_kv_cache_decoding_equals_full_forward(tiny_gpt2) -> None:
    _, ours = tiny_gpt2
    ids = torch.randint(0, EOS, (2, 6))
    loop = DecodeLoop(ours, ids, max_new_tokens=10, eos_token_id=None)
    cached = []
    original = loop.runner._logits

    def spy(step_ids, positions):
        logits = original(step_ids, positions)
        cached.append(logits)
        return logits

    loop.runner._logits = spy
    list(loop)
    seq = loop.sequences
    with torch.no_grad():
        full = ours(seq).logits
    for step, logits in enumerate(cached):
        assert torch.allclose(logits, full[:, 5 + step], atol=1e-5)


def test_seeded_sampling_is_reproducible(tiny_gpt2) -> None:
    _, ours = tiny_gpt2
    ids = torch.randint(0, EOS, (2, 4))
    kw = dict(do_sample=True, max_new_tokens=25, temperature=1.5, top_k=0, eos_token_id=None)
    a = generate(ours, ids, seed=7, **kw)
    torch.manual_seed(123)  # the global RNG does not matter
    b = generate(ours, ids, seed=7, **kw)
    c = generate(ours, ids, seed=8, **kw)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(generate(ours, ids, generator=g1, **kw), generate(ours, ids, generator=g2, **kw))


def test_sampling_with_top_k_1_is_greedy(tiny_gpt2) -> None:
    _, ours = tiny_gpt2
    ids = torch.randint(0, EOS, (1, 5))
    greedy = generate(ours, ids, max_new_tokens=10)
    assert torch.equal(generate(ours, ids, do_sample=True, top_k=1, seed=0, max_new_tokens=10), greedy)


def test_num_return_sequences_with_sampling(tiny_gpt2) -> None:
    _, ours = tiny_gpt2
    ids = torch.randint(0, EOS, (2, 4))
    out = generate(ours, ids, do_sample=True, num_return_sequences=3, seed=0, max_new_tokens=5)
    assert out.shape == (6, 9)
    assert torch.equal(out[:3, :4], ids[:1].expand(3, 4))


class CharTokenizer:
    """Token i decodes to two letters, so a stop string can straddle two tokens."""

    def decode(self, ids, skip_special_tokens=False):
        return "".join(chr(97 + i % 26) + chr(65 + i // 26) for i in ids)

    def batch_decode(self, rows, skip_special_tokens=False):
        return [self.decode(r) for r in rows]


def test_stop_strings_across_token_boundaries(tiny_gpt2) -> None:
    _, ours = tiny_gpt2
    ids = torch.randint(0, EOS, (1, 4))
    tok = CharTokenizer()
    free = generate(ours, ids, max_new_tokens=20, eos_token_id=None)[0, 4:].tolist()
    text = tok.decode(free)
    stop = text[9:12]  # from the middle of token 4 into token 6
    stop_at = text.index(stop)
    out = generate(ours, ids, max_new_tokens=20, eos_token_id=None, stop_strings=[stop], tokenizer=tok)
    new = out[0, 4:].tolist()
    assert stop in tok.decode(new)
    assert len(new) == (stop_at + len(stop) + 1) // 2  # stopped at the token completing the string
    beams = generate(ours, ids, max_new_tokens=20, num_beams=3, num_return_sequences=3, eos_token_id=None,
                     stop_strings=stop, tokenizer=tok)
    for row in beams[:, 4:].tolist():
        row = [t for t in row if t >= 0]  # finished beams are filled with -1 (no pad, no EOS)
        assert stop not in tok.decode(row[:-1])  # a beam that met the stop string ended there


@pytest.mark.parametrize("kw,words", [
    (dict(top_p=1.5, do_sample=True), "top_p"),
    (dict(top_p=0.0, do_sample=True), "top_p"),
    (dict(temperature=-1.0, do_sample=True), "temperature"),
    (dict(num_beams=0), "num_beams"),
    (dict(max_new_tokens=100), "context"),
    (dict(num_return_sequences=5, num_beams=2), "num_return_sequences"),
    (dict(top_pp=0.5), "top_p"),
    (dict(stop_strings=["x"]), "tokenizer"),
])
def test_bad_options_raise_one_clear_error(tiny_gpt2, kw, words) -> None:
    _, ours = tiny_gpt2
    with pytest.raises(BigModelError, match=words):
        generate(ours, torch.zeros(1, 3, dtype=torch.long), **kw)


def test_max_time_stops_early(tiny_gpt2) -> None:
    _, ours = tiny_gpt2
    loop = DecodeLoop(ours, torch.zeros(1, 3, dtype=torch.long), max_new_tokens=60, max_time=1e-9,
                      eos_token_id=None)
    list(loop)
    assert loop.sequences.shape[1] < 63 and loop.finish_reasons == ["length"]


def test_finish_reasons_and_counts(tiny_gpt2, left_padded_batch) -> None:
    hf, ours = tiny_gpt2
    ids, mask = left_padded_batch
    eos = frequent_token(hf, ids, mask)
    loop = DecodeLoop(ours, ids, mask, max_new_tokens=12, eos_token_id=eos, pad_token_id=0)
    list(loop)
    new = loop.sequences[:, ids.shape[1]:]
    for i in range(3):
        row = new[i].tolist()
        if eos in row:
            assert loop.finish_reasons[i] == "stop" and loop.new_tokens[i] == row.index(eos) + 1
        else:
            assert loop.finish_reasons[i] == "length" and loop.new_tokens[i] == 12


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_the_greedy_choice_is_torch_argmax_with_ties_and_nan(dtype: torch.dtype) -> None:
    from bigmodel.decoding.search import greedy_choice

    torch.manual_seed(0)
    scores = torch.randn(4, 1000)
    scores[1, 5] = scores[1, 9] = scores[1].max() + 1  # a tie: the first
    scores[2, 7] = scores[2, 100] = float("nan")  # NaN counts as the largest: the first NaN
    scores[3] = float("-inf")
    scores = scores.to(dtype)
    got = greedy_choice(scores)
    assert got.dtype == torch.int64 and torch.equal(got, scores.argmax(dim=-1))
    assert got.tolist()[1:] == [5, 7, 0]
