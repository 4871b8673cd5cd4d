"""Fine-tune BERT to tag named entities (BIO), then find them with bm.tag.

    python docs/tutorials/named_entities.py          # tiny-bert-en on 3,000 templated sentences
    python docs/tutorials/named_entities.py --tiny   # a 2-layer random BERT, seconds
    python docs/tutorials/named_entities.py --train eng.train --validation eng.testa   # CoNLL-2003

The same from the shell, with a recipe that sets ``[task] kind = "token_classification"``:
``bigmodel train ner.toml``, then ``bigmodel tag "Moses went from Egypt unto Zion" --model runs/ner``.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
from pathlib import Path

import torch

import bigmodel as bm
from bigmodel.models.bert import BertConfig, BertModel
from bigmodel.tokenization import load_tokenizer
from bigmodel.training.trainer import Trainer

PEOPLE = ["Abraham", "Isaac", "Jacob", "Moses", "Aaron", "Joseph", "Sarah", "Rachel", "David", "Samuel"]
PLACES = ["Egypt", "Bethel", "Hebron", "Jerusalem", "Shechem", "Gilead", "Zion", "Babylon", "Sodom", "Canaan"]
TITLES = [["the", "priest"], ["the", "prophet"], ["the", "king"], ["his", "brother"]]
LEADS = [[], [], ["Then"], ["And"], ["In", "those", "days"], ["And", "it", "came", "to", "pass", "that"]]


def sentence(rng: random.Random) -> list[tuple[str, str]]:
    """A person goes from a place to a place, perhaps with a titled companion: BIO tags per word."""
    lead = [(w, "O") for w in rng.choice(LEADS)]
    words = lead + [(rng.choice(PEOPLE), "B-PER"), ("went", "O"), ("from", "O"), (rng.choice(PLACES), "B-LOC")]
    words += [("unto", "O")]
    if rng.random() < 0.5:
        words += [("the", "O"), ("land", "O"), ("of", "O")]
    words += [(rng.choice(PLACES), "B-LOC")]
    if rng.random() < 0.6:
        words += [("with", "O"), (rng.choice(PEOPLE), "B-PER")] + [(w, "I-PER") for w in rng.choice(TITLES)]
    return words + [(".", "O")] if rng.random() < 0.5 else words


def conll_file(path: Path, n: int, seed: int) -> Path:
    """CoNLL style: "token tag" per line, a blank line after each sentence."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        lines += [f"{word} {tag}" for word, tag in sentence(rng)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def random_base(folder: Path) -> Path:
    """A 2-layer random BERT with tiny-bert-en's vocabulary."""
    load_tokenizer("tiny-bert-en").save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(load_tokenizer(folder)), max_seq_len=64, d_model=64, n_layers=2,
                         n_heads=4, d_ff=128)).save_pretrained(folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", default=bool(os.environ.get("BIGMODEL_TUTORIAL_TINY")))
    parser.add_argument("--train", help="your own CoNLL-style training file")
    parser.add_argument("--validation", help="its validation file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.train:
            train, dev, base, steps = Path(args.train), Path(args.validation), "tiny-bert-en", 2000
        elif args.tiny:
            train, dev = conll_file(work / "train.conll", 300, 1), conll_file(work / "dev.conll", 60, 2)
            base, steps = str(random_base(work / "base")), 80
        else:
            train, dev = conll_file(work / "train.conll", 3000, 1), conll_file(work / "dev.conll", 300, 2)
            base, steps = "tiny-bert-en", 300
        out = work / "ner"

        # 1. The recipe: a linear head on every token of a pretrained BERT; a word's tag is learned
        #    at its first sub-token (the rest get -100). Every evaluation tags the validation
        #    sentences and reports entity-level precision, recall and F1 (seqeval's definition).
        recipe = {
            "task": {"kind": "token_classification"},
            "model": {"pretrained": base},
            "data": {"path": str(train), "validation_path": str(dev), "seq_len": 64},
            "train": {"out_dir": str(out), "max_steps": steps, "batch_size": 16, "lr": 2e-3 if args.tiny else 5e-4,
                      "warmup_steps": 10, "weight_decay": 0.01, "eval_every": 0, "eval_batches": 4,
                      "progress": False, "num_threads": 1, "peak_gflops": 1000.0},
        }
        trainer = Trainer(recipe)
        before = trainer.evaluate()
        result = trainer.train()
        after = result["validation"]
        print(f"validation entity F1 before: {before['entity_f1']:.3f}")
        print(f"validation after {result['step']} steps: entity precision {after['entity_precision']:.3f}, "
              f"recall {after['entity_recall']:.3f}, F1 {after['entity_f1']:.3f}")

        # 2. Tag a new sentence: adjacent tokens of one type (B- then I-) form an entity group,
        #    scored by the mean of their token probabilities, with character offsets.
        text = "Then Samuel went from Shechem unto Babylon with Rachel his brother."
        for group in bm.tag(text, model=out):
            print(f"{group['entity_group']:4} {group['score']:.2f}  {text[group['start']:group['end']]!r}")

        # 3. One entry per token instead (aggregation="none"): the sub-token pieces and their tags.
        for token in bm.tag("Rachel went unto Jerusalem", model=out, aggregation="none"):
            print(f"  {token['word']:12} {token['entity']:6} {token['score']:.2f}")
        if args.tiny:
            assert after["entity_f1"] > before["entity_f1"] + 0.5, (before, after)


if __name__ == "__main__":
    main()
