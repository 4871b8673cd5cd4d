"""Fine-tune BERT for extractive question answering, then answer questions with bm.answer.

    python docs/tutorials/question_answering.py          # tiny-bert-en on 4,000 templated questions
    python docs/tutorials/question_answering.py --tiny   # a 2-layer random BERT, about a minute
    python docs/tutorials/question_answering.py --train train-v1.1.json --validation dev-v1.1.json

The same from the shell, with a recipe that sets ``[task] kind = "question_answering"``:
``bigmodel train qa.toml``, then
``bigmodel answer --question "Where dwelt Moses?" --context "Moses dwelt in Egypt." --model runs/qa``.
"""

from __future__ import annotations

import argparse
import json
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
THINGS = ["bread", "wine", "gold", "silver", "sheep", "oxen", "corn", "oil"]
LEADS = ["And it came to pass that", "In those days", "Then", "And", "After these things"]


def fact(rng: random.Random, who: str) -> tuple[str, str, str]:
    where, what = rng.choice(PLACES), rng.choice(THINGS)
    if rng.random() < 0.5:
        return f"{who} dwelt in {where} and had {what}.", where, what
    return f"{who} had {what} and dwelt in {where}.", where, what


def squad_file(path: Path, n: int, seed: int, people: int) -> Path:
    """SQuAD v1.1 JSON: ``people`` facts per context, a question about one of them."""
    rng = random.Random(seed)
    paragraphs = []
    for i in range(n):
        names = rng.sample(PEOPLE, people)
        facts = [fact(rng, who) for who in names]
        context = f"{rng.choice(LEADS)} " + " ".join(sentence for sentence, _, _ in facts)
        k = rng.randrange(people)
        question, answer = (f"Where dwelt {names[k]}?", facts[k][1]) if i % 2 else \
            (f"What had {names[k]}?", facts[k][2])
        # The answer's character offset: after the sentence of fact k starts.
        start = context.index(facts[k][0]) + facts[k][0].index(f" {answer}") + 1
        paragraphs.append({"context": context, "qas": [
            {"id": str(i), "question": question, "answers": [{"text": answer, "answer_start": start}]}]})
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "toy", "paragraphs": paragraphs}]}),
                    encoding="utf-8")
    return path


def random_base(folder: Path) -> Path:
    """A 2-layer random BERT with tiny-bert-en's vocabulary (fine-tuning teaches it everything)."""
    load_tokenizer("tiny-bert-en").save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(load_tokenizer(folder)), max_seq_len=64, d_model=64, n_layers=2,
                         n_heads=4, d_ff=128)).save_pretrained(folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", default=bool(os.environ.get("BIGMODEL_TUTORIAL_TINY")))
    parser.add_argument("--train", help="your own SQuAD v1.1 training file")
    parser.add_argument("--validation", help="its validation file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.train:
            train, dev, base, steps, seq_len = Path(args.train), Path(args.validation), "tiny-bert-en", 3000, 256
        elif args.tiny:
            train, dev = squad_file(work / "train.json", 400, 1, 1), squad_file(work / "dev.json", 40, 2, 1)
            base, steps, seq_len = str(random_base(work / "base")), 500, 32
        else:
            train, dev = squad_file(work / "train.json", 4000, 1, 2), squad_file(work / "dev.json", 200, 2, 2)
            base, steps, seq_len = "tiny-bert-en", 600, 64
        out = work / "qa"

        # 1. The recipe: a span head on a pretrained BERT, trained on "[CLS] question [SEP] context [SEP]"
        #    to point at the answer's first and last token. Every evaluation answers the validation
        #    questions and reports SQuAD's exact match and F1.
        recipe = {
            "task": {"kind": "question_answering", "doc_stride": 16, "max_eval_examples": 200},
            "model": {"pretrained": base},
            "data": {"path": str(train), "validation_path": str(dev), "seq_len": seq_len},
            "train": {"out_dir": str(out), "max_steps": steps, "batch_size": 16, "lr": 2e-3 if args.tiny else 5e-4,
                      "warmup_steps": 10, "weight_decay": 0.01, "eval_every": 0, "eval_batches": 4,
                      "progress": False, "num_threads": 1, "peak_gflops": 1000.0},
        }
        trainer = Trainer(recipe)
        before = trainer.evaluate()
        result = trainer.train()
        after = result["validation"]
        print(f"validation before: exact match {before['exact_match']:.1f}, F1 {before['f1']:.1f}")
        print(f"validation after {result['step']} steps: exact match {after['exact_match']:.1f}, "
              f"F1 {after['f1']:.1f}")

        # 2. Answer: the best span of the context, with its score p_start · p_end and its
        #    character offsets (context[start:end] is the answer).
        context = "In those days Moses had gold and dwelt in Egypt."
        best = bm.answer("Where dwelt Moses?", context, model=out)
        print(f"Where dwelt Moses? -> {best['answer']!r} (score {best['score']:.2f}, "
              f"characters {best['start']}:{best['end']})")
        for candidate in bm.answer("What had Moses?", context, model=out, top_k=3):
            print(f"  What had Moses? candidate {candidate['answer']!r} {candidate['score']:.3f}")

        # 3. A context longer than a window: it is cut into windows that share doc_stride tokens,
        #    and the best span over all windows wins.
        long = " ".join(f"{who} dwelt in {where} and had {what}." for who, where, what in
                        zip(PEOPLE[:6], PLACES[:6], THINGS[:6], strict=True))
        far = bm.answer("Where dwelt Joseph?", long, model=out, max_seq_len=24, doc_stride=8)
        print(f"Where dwelt Joseph? (windows of 24 tokens) -> {far['answer']!r}")
        if args.tiny:
            assert after["f1"] > before["f1"] + 50, (before, after)


if __name__ == "__main__":
    main()
