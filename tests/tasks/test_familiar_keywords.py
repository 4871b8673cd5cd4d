"""Keywords users bring from sentence-transformers and transformers work as there."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bigmodel as bm
from bigmodel.tokenization import load_tokenizer

TEXTS = ["a cat sat on the mat", "the dog ran to the city"]


def test_embed_takes_sentence_transformers_keywords() -> None:
    default = bm.embed(TEXTS, "tiny-bert-en")
    assert isinstance(default, torch.Tensor)
    assert torch.allclose(default.norm(dim=-1), torch.ones(2), atol=1e-5)
    as_numpy = bm.embed(TEXTS, "tiny-bert-en", convert_to_numpy=True, show_progress_bar=False, batch_size=1,
                        device="cpu")
    assert isinstance(as_numpy, np.ndarray) and as_numpy.dtype == np.float32
    np.testing.assert_allclose(as_numpy, default.numpy(), atol=1e-5)
    assert isinstance(bm.embed(TEXTS, "tiny-bert-en", convert_to_numpy=True, convert_to_tensor=True), torch.Tensor)
    raw = bm.embed(TEXTS, "tiny-bert-en", normalize_embeddings=False)
    assert torch.allclose(raw, bm.embed(TEXTS, "tiny-bert-en", normalize=False), atol=1e-6)
    assert not torch.allclose(raw.norm(dim=-1), torch.ones(2), atol=1e-3)
    with pytest.raises(bm.BigModelError, match="normalize=False and normalize_embeddings=True disagree"):
        bm.embed(TEXTS, "tiny-bert-en", normalize=False, normalize_embeddings=True)


def test_generate_return_full_text_and_max_length_as_transformers() -> None:
    prompt = "Once upon a time"
    new = bm.generate(prompt, "tiny-gpt-en", max_new_tokens=4, do_sample=False)
    full = bm.generate(prompt, "tiny-gpt-en", max_new_tokens=4, do_sample=False, return_full_text=True)
    assert full == prompt + new
    width = len(load_tokenizer("tiny-gpt-en").encode(prompt, add_special_tokens=False))
    assert bm.generate(prompt, "tiny-gpt-en", max_length=width + 4, do_sample=False) == new
    # max_new_tokens wins when both are given, as in transformers
    assert bm.generate(prompt, "tiny-gpt-en", max_length=width + 1, max_new_tokens=4, do_sample=False) == new
    with pytest.raises(bm.BigModelError, match=f"max_length={width} leaves no room"):
        bm.generate(prompt, "tiny-gpt-en", max_length=width)
    batch = bm.generate([prompt, "The cat"], "tiny-gpt-en", max_new_tokens=2, do_sample=False,
                        return_full_text=True)
    assert batch[0].startswith(prompt) and batch[1].startswith("The cat")


def test_stream_takes_max_length() -> None:
    prompt = "Once upon a time"
    width = len(load_tokenizer("tiny-gpt-en").encode(prompt, add_special_tokens=False))
    streamed = "".join(bm.stream(prompt, "tiny-gpt-en", max_length=width + 3, do_sample=False, device="auto"))
    assert streamed == bm.generate(prompt, "tiny-gpt-en", max_new_tokens=3, do_sample=False)
