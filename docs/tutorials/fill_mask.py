"""Fill masks with BERT: the top-k words for each [MASK], and where they come from.

    python docs/tutorials/fill_mask.py           # bert-base-uncased (downloaded once from the hub)
    python docs/tutorials/fill_mask.py --tiny    # a tiny random BERT, seconds, offline

The same from the shell: ``bigmodel fill-mask "Paris is the [MASK] of France."``.
"""

from __future__ import annotations

import argparse
import os

import torch

import bigmodel as bm
from bigmodel.models.bert import BertConfig, BertForMaskedLM
from bigmodel.tasks.mask_filling import fill_mask


def load_model(tiny: bool) -> tuple[object, object]:
    """(masked LM, tokenizer). ``tiny``: 2 layers of width 32 over BERT's vocabulary, random."""
    tokenizer = bm.load_tokenizer("bert-base-uncased")  # ships with the installed packages
    if tiny:
        torch.manual_seed(0)
        config = BertConfig(vocab_size=tokenizer.vocab_size, max_seq_len=64, d_model=32, n_layers=2,
                            n_heads=4, d_ff=64)
        return BertForMaskedLM(config).eval(), tokenizer
    return bm.load("bert-base-uncased", architecture="BertForMaskedLM"), tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", default=bool(os.environ.get("BIGMODEL_TUTORIAL_TINY")))
    args = parser.parse_args()
    model, tok = load_model(args.tiny)

    # 1. One mask: the k most likely fillers, best first.
    text = "Paris is the [MASK] of France."
    for p in fill_mask(text, model, tok, top_k=5):
        print(f"{p['score']:.3f}  {p['token_str']:>10}  {p['sequence']}")

    # 2. Where the scores come from: the MLM head maps the mask position's last hidden state
    #    (d_model,) to logits over the whole vocabulary (vocab,), and the softmax of those is p.
    enc = tok(text, return_tensors="pt")
    position = int((enc["input_ids"][0] == tok.mask_token_id).nonzero()[0, 0])
    with torch.no_grad():
        logits = model(enc["input_ids"], enc["attention_mask"]).logits  # (1, T, vocab)
    probs = logits[0, position].softmax(-1)
    best = fill_mask(text, model, tok, top_k=1)[0]
    assert best["token"] == int(probs.argmax())
    assert abs(best["score"] - float(probs.max())) < 1e-5
    print(f"p({best['token_str']!r} | context) = {float(probs.max()):.3f}, over {probs.numel()} words")

    # 3. Several masks in one text: one list of predictions per mask.
    per_mask = fill_mask("The [MASK] sat on the [MASK].", model, tok, top_k=3)
    print("two masks:", [[p["token_str"] for p in preds] for preds in per_mask])


if __name__ == "__main__":
    main()
