"""Generate text with GPT: greedy, sampled, streamed, batched, from the Python API.

    python docs/tutorials/generate_text.py            # GPT-2 124M (downloaded once from the hub)
    python docs/tutorials/generate_text.py --tiny     # a tiny random GPT, seconds, offline

The same from the shell: ``bigmodel generate "The meaning of life is" --max-new-tokens 30``.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

import bigmodel as bm
from bigmodel.tasks.generation import generate, generate_detailed, stream


def load_model(tiny: bool) -> tuple[object, object]:
    """(model, tokenizer). ``tiny``: GPT-2's architecture shrunk to 2 layers of width 64, random."""
    tokenizer = bm.load_tokenizer("gpt2")  # ships with the installed packages: no download
    if tiny:
        torch.manual_seed(0)
        # a large init spread gives peaked logits: random but varied text
        return bm.create("gpt2", n_layers=2, d_model=64, n_heads=4, max_seq_len=128,
                         initializer_range=0.3).eval(), tokenizer
    return bm.load("gpt2"), tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", default=bool(os.environ.get("BIGMODEL_TUTORIAL_TINY")))
    args = parser.parse_args()
    model, tok = load_model(args.tiny)
    prompt = "The meaning of life is"

    # 1. Greedy: argmax at every step, the same text every time.
    greedy = generate(prompt, model, tok, max_new_tokens=20)
    assert greedy == generate(prompt, model, tok, max_new_tokens=20)
    print("greedy :", prompt + greedy)

    # 2. Sampling: temperature flattens or sharpens softmax(logits / T); top-k and top-p cut the
    #    tail. A seed makes it reproducible.
    sampled = generate(prompt, model, tok, max_new_tokens=20, temperature=0.8, top_p=0.95, seed=0)
    assert sampled == generate(prompt, model, tok, max_new_tokens=20, temperature=0.8, top_p=0.95, seed=0)
    print("sampled:", prompt + sampled)

    # 3. Streaming: the deltas arrive as tokens are decoded and concatenate to the full text.
    pieces = list(stream(prompt, model, tok, max_new_tokens=20))
    assert "".join(pieces) == greedy
    print("stream :", len(pieces), "deltas")

    # 4. Several prompts decode together in one batch (left-padded); counts come with the text.
    for result in generate_detailed(["Once upon a time", "import torch\n"], model, tok, max_new_tokens=10):
        print(f"batch  : {result.completion_tokens} tokens, finish_reason={result.finish_reason}")

    # 5. The KV cache: each new token costs one position's work, not the whole prefix again.
    ids = tok(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        start = time.perf_counter()
        out = model.generate(ids, max_new_tokens=20)
        seconds = time.perf_counter() - start
    print(f"model.generate: {out.shape[1] - ids.shape[1]} new tokens in {seconds:.2f} s")


if __name__ == "__main__":
    main()
