"""Explain a prediction: which tokens made GPT choose its next word, and what each layer thought.

    python docs/tutorials/explain_prediction.py           # GPT-2 124M (downloaded once from the hub)
    python docs/tutorials/explain_prediction.py --tiny    # a tiny random GPT, seconds, offline

The same from the shell: ``bigmodel explain "The capital of France is" --model gpt2 --kind KIND``
with KIND attribution, attention or logit-lens (``--out`` writes a .html, .png or .json).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch

import bigmodel as bm
from bigmodel.explain.attention import attention_maps
from bigmodel.explain.attribution import integrated_gradients, save_attribution
from bigmodel.explain.lens import logit_lens


def load_model(tiny: bool) -> tuple[object, object]:
    tokenizer = bm.load_tokenizer("gpt2")
    if tiny:
        torch.manual_seed(0)
        return bm.create("gpt2", n_layers=2, d_model=64, n_heads=4, max_seq_len=128,
                         initializer_range=0.3).eval(), tokenizer
    return bm.load("gpt2"), tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", default=bool(os.environ.get("BIGMODEL_TUTORIAL_TINY")))
    args = parser.parse_args()
    model, tok = load_model(args.tiny)
    text = "The capital of France is"

    # 1. Integrated gradients: each token's share of the score of the predicted next token,
    #    IG_i = (x_i − x'_i) · ∫₀¹ ∂f(x' + a(x − x'))/∂x_i da, summed over the embedding width.
    #    The shares add up to f(x) − f(x') up to the quadrature error `delta`.
    attr = integrated_gradients(model, text, tok, steps=16 if args.tiny else 64)
    print(f"next token {attr.target_label!r}: score {attr.score:.3f}, baseline {attr.baseline_score:.3f}")
    for token, score in zip(attr.tokens, attr.scores, strict=True):
        print(f"  {token!r:>12} {score:+.3f}")
    assert abs(sum(attr.scores) - (attr.score - attr.baseline_score) - attr.delta) < 1e-3
    with tempfile.TemporaryDirectory() as folder:
        page = save_attribution(attr, Path(folder) / "attribution.html")  # tokens colored by share
        print("wrote", page.name, f"({page.stat().st_size} bytes)")

    # 2. Attention maps: (layers, heads, T, T) per text. Every row is a softmax (sums to 1) and
    #    GPT's causal mask leaves the upper triangle at exactly 0.
    maps = attention_maps(model, text, tok)
    weights = maps.weights["self"]
    print("attention weights:", tuple(weights.shape))
    assert torch.allclose(weights.sum(-1), torch.ones(weights.shape[:-1]), atol=1e-4)
    assert float(weights.triu(diagonal=1).abs().max()) == 0.0

    # 3. The logit lens: the final LayerNorm and the output layer applied after every layer
    #    show how the prediction forms with depth.
    lens = logit_lens(model, text, tok, top_k=3)
    print(lens.table(positions=3))


if __name__ == "__main__":
    main()
