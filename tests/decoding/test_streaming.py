"""Streamed deltas never split a UTF-8 character and add up to the full text."""

from __future__ import annotations

import pytest
import torch

import bigmodel as bm
from bigmodel.decoding import TextDeltas, TextIteratorStreamer, generate, stream
from bigmodel.tokenization import load_tokenizer


@pytest.fixture(scope="module")
def gpt2_tokenizer():
    return load_tokenizer("gpt2")


def test_deltas_of_chinese_and_emoji_are_whole_characters(gpt2_tokenizer) -> None:
    text = "人工智能是一种🙂技术。Hello, 世界!"
    deltas = TextDeltas(gpt2_tokenizer)
    out = [deltas.push(i) for i in gpt2_tokenizer.encode(text)] + [deltas.flush()]
    assert "".join(out) == text
    assert all("\ufffd" not in d for d in out)
    assert sum(1 for d in out if d) > 5  # it really streams


def test_stream_concatenates_to_generate_for_chinese_prompt(gpt2_tokenizer) -> None:
    torch.manual_seed(0)
    model = bm.create("gpt2", n_layers=1, d_model=16, n_heads=2, max_seq_len=128).eval()
    ids = torch.tensor([gpt2_tokenizer.encode("人工智能是一种")])
    kw = dict(max_new_tokens=40, do_sample=True, seed=4, top_k=0)
    full = generate(model, ids, **kw)
    expected = gpt2_tokenizer.decode(full[0, ids.shape[1]:], skip_special_tokens=True)
    deltas = list(stream(model, ids, gpt2_tokenizer, **kw))
    assert "".join(deltas) == expected
    streamer = TextIteratorStreamer(gpt2_tokenizer)
    generate(model, ids, streamer=streamer, **kw)
    assert "".join(streamer.deltas) == expected
