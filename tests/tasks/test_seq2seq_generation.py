"""bm.generate and bm.generation.stream on an encoder-decoder: the text model.generate writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import bigmodel as bm
from bigmodel.errors import BigModelError
from bigmodel.tasks.generation import generate_detailed, stream
from bigmodel.tokenization import load_tokenizer

SOURCES = ["23 MAR 1987", "the first of May, 2001", "Monday, March 23, 1987"]


def decoded(folder: Path, sources: list[str], **kwargs: object) -> list[str]:
    """What model.generate writes for a right-padded batch, as the training evaluation reads it."""
    from bigmodel.data.seq2seq import seq2seq_collator

    model, tok = bm.load(folder).eval(), load_tokenizer(folder)
    batch = seq2seq_collator(tok)([(tok.encode(s, add_special_tokens=False), []) for s in sources])
    out = model.generate(batch["input_ids"], attention_mask=batch["attention_mask"], **kwargs)
    assert (out[:, 0] == model.config.bos_token_id).all()
    return tok.batch_decode(out, skip_special_tokens=True)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generate_returns_what_model_generate_decodes(tiny_seq2seq: Path, num_beams: int) -> None:
    for source in SOURCES:
        expected = decoded(tiny_seq2seq, [source], max_new_tokens=12, num_beams=num_beams)[0]
        got = generate_detailed(source, model=str(tiny_seq2seq), max_new_tokens=12, num_beams=num_beams)[0]
        assert got.text == expected and got.text
        assert got.prompt_tokens == len(source)  # one character a token
        assert 0 < got.completion_tokens <= 12


def test_a_batch_of_sources_is_right_padded_like_training(tiny_seq2seq: Path) -> None:
    expected = decoded(tiny_seq2seq, SOURCES, max_new_tokens=12)
    assert bm.generate(SOURCES, model=str(tiny_seq2seq), max_new_tokens=12) == expected


def test_stream_deltas_concatenate_to_the_text(tiny_seq2seq: Path) -> None:
    plain = bm.generate(SOURCES[1], model=str(tiny_seq2seq), max_new_tokens=12)
    result: list = []
    deltas = list(stream(SOURCES[1], model=str(tiny_seq2seq), max_new_tokens=12, result=result))
    assert len(deltas) > 1 and "".join(deltas) == plain
    assert result[0].text == plain and result[0].completion_tokens > 0


def test_seeded_sampling_is_reproducible_and_non_empty(tiny_seq2seq: Path) -> None:
    kwargs = dict(model=str(tiny_seq2seq), max_new_tokens=12, top_p=0.9, seed=3, num_return_sequences=2)
    first = bm.generate(SOURCES[0], **kwargs)
    assert first == bm.generate(SOURCES[0], **kwargs)
    assert len(first) == 2 and all(first)


def test_a_source_longer_than_the_encoder_is_one_clear_error(tiny_seq2seq: Path) -> None:
    with pytest.raises(BigModelError, match=r"source of \d+ tokens exceeds max_seq_len=48"):
        bm.generate("1 MAR 1987 " * 10, model=str(tiny_seq2seq), max_new_tokens=12)
    with pytest.raises(BigModelError, match="max_new_tokens=60 exceeds the decoder's context of 48"):
        bm.generate(SOURCES[0], model=str(tiny_seq2seq), max_new_tokens=60)


def test_untrained_transformer_in_memory_needs_a_tokenizer() -> None:
    from bigmodel.models.transformer import Transformer, TransformerConfig

    torch.manual_seed(0)
    model = Transformer(TransformerConfig(vocab_size=20, d_model=16, n_heads=2, n_encoder_layers=1,
                                          n_decoder_layers=1, d_ff=32, max_seq_len=16))
    with pytest.raises(BigModelError, match="tokenizer="):
        bm.generate("x", model=model)
