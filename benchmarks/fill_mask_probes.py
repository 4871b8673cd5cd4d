"""Cloze probes: how many have an expected word in a fill-mask model's top 5.

    python benchmarks/fill_mask_probes.py                                   # tiny-bert-en
    python benchmarks/fill_mask_probes.py --model tiny-bert-zh --probes benchmarks/cloze_probes_zh.txt
    python benchmarks/fill_mask_probes.py --json

A probe file has one sentence with one [MASK] per line, a tab, then the accepted answers
separated by ``|`` (``#`` starts a comment line). A probe is a hit when an accepted answer is
among the top-k predictions (case-insensitive).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def read_probes(path: Path) -> list[tuple[str, list[str]]]:
    probes = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        text, sep, answers = line.partition("\t")
        if not sep or "[MASK]" not in text:
            raise SystemExit(f"{path}:{number}: expected 'sentence with [MASK]<TAB>answer|answer'")
        probes.append((text, [a.strip().lower() for a in answers.split("|") if a.strip()]))
    return probes


def run_probes(model: str, probes: list[tuple[str, list[str]]], top_k: int) -> list[dict]:
    import bigmodel as bm

    predictions = bm.fill_mask([text for text, _ in probes], model=model, top_k=top_k)
    rows = []
    for (text, answers), top in zip(probes, predictions, strict=True):
        words = [p["token_str"].strip().lower() for p in top]
        rows.append({"text": text, "expected": answers, "top": words,
                     "hit": any(a in words for a in answers)})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-bert-en")
    parser.add_argument("--probes", type=Path, default=ROOT / "benchmarks" / "cloze_probes_en.txt")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = run_probes(args.model, read_probes(args.probes), args.top_k)
    hits = sum(r["hit"] for r in rows)
    if args.json:
        print(json.dumps({"model": args.model, "hits": hits, "probes": len(rows), "rows": rows},
                         ensure_ascii=False, indent=2))
    else:
        for r in rows:
            print(f"{'hit ' if r['hit'] else 'miss'}  {r['text']:<66} {', '.join(r['top'])}")
        print(f"{args.model}: {hits}/{len(rows)} probes have an expected word in the top {args.top_k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
