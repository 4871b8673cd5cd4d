"""Load on `bigmodel serve`: does batching turn concurrent clients into throughput?

Starts ``bigmodel serve`` in its own process on a free loopback port, then runs a bounded
load of 1, 4 and 8 concurrent streaming clients (each sends ``--requests`` completions of
``--max-tokens`` tokens, one after the other) and reports per level:

- aggregate tokens/s: completion tokens of all clients / wall time of the level;
- time to first token (TTFT) p50 / p95: request sent -> first text delta received;
- the server's resident memory (VmRSS) sampled every 0.2 s: lowest / highest.

The whole sequence of levels runs ``--rounds`` times (the table shows the last round); the
RSS at the end of each round shows whether memory stays flat once the allocator has warmed up.

The default model is GPT-2 124M with random weights (speed does not depend on their
values); ``--model`` serves any other. A request may end early at EOS: token counts are the
real ones from ``usage``.

    PYTHONPATH=src .venv/bin/python benchmarks/serve_load.py [--model M] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loopback import ROOT, httpx_module, rss_kib, served  # noqa: E402

PROMPTS = [
    "The history of the city begins in the",
    "Once upon a time, in a small village by the sea, there lived",
    "In this tutorial we explain how attention works:",
    "The weather today is",
    "Researchers announced on Tuesday that",
    "A recipe for bread needs flour, water,",
    "The committee met to discuss the budget for",
    "She opened the door and saw",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def one_request(http: Any, url: str, model: str, prompt: str, max_tokens: int) -> tuple[float, int]:
    """(seconds to the first text delta, completion tokens) of one streamed completion."""
    body = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    first = None
    tokens = 0
    with http.stream("POST", url + "/v1/completions", json=body, timeout=600) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if first is None and any(c.get("text") for c in chunk.get("choices", [])):
                first = time.perf_counter() - start
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    return (first if first is not None else time.perf_counter() - start), tokens


def run_level(httpx: Any, url: str, model: str, clients: int, requests: int, max_tokens: int,
              pid: int) -> dict[str, Any]:
    ttfts: list[float] = []
    tokens = [0]
    lock = threading.Lock()
    rss: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss.append(rss_kib(pid))
            time.sleep(0.2)

    def client(k: int) -> None:
        # One connection per client, as a real client keeps (a new one per request would
        # add TLS-context and connection set-up to every time to first token).
        with httpx.Client() as http:
            for r in range(requests):
                ttft, n = one_request(http, url, model, PROMPTS[(k + r) % len(PROMPTS)], max_tokens)
                with lock:
                    ttfts.append(ttft)
                    tokens[0] += n

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    return {"clients": clients, "requests": clients * requests, "tokens": tokens[0], "seconds": round(wall, 2),
            "tokens_per_s": round(tokens[0] / wall, 1), "ttft_p50_ms": round(1000 * statistics.median(ttfts)),
            "ttft_p95_ms": round(1000 * percentile(ttfts, 0.95)),
            "rss_min_mib": round(min(rss) / 1024, 1), "rss_max_mib": round(max(rss) / 1024, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model to serve (default: GPT-2 124M, random weights)")
    parser.add_argument("--levels", default="1,4,8", help="concurrent clients per level")
    parser.add_argument("--requests", type=int, default=2, help="requests per client per level")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the server")
    parser.add_argument("--dtype", default="fp32", help="weights of the served model: fp32 or bf16")
    parser.add_argument("--rounds", type=int, default=2, help="times the levels are run (the last one is shown)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    httpx = httpx_module()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from bigmodel.hub import create
            from bigmodel.tokenization import load_tokenizer

            folder = Path(tmp) / "gpt2-random"
            create("gpt2").save_pretrained(folder)
            load_tokenizer("gpt2").save_pretrained(folder)
            model = str(folder)
        levels = [int(x) for x in args.levels.split(",")]
        serve_args = ["--model", model, "--threads", str(args.threads), "--dtype", args.dtype,
                      "--max-batch-size", str(max(levels)), "--max-concurrency", str(4 * max(levels))]
        with served(serve_args) as (url, server, names):
            name = names[0]
            with httpx.Client() as http:
                one_request(http, url, name, PROMPTS[0], 8)  # warm-up
            rss_start = rss_kib(server.pid)
            rss_rounds = []
            for _ in range(args.rounds):
                rows = [run_level(httpx, url, name, c, args.requests, args.max_tokens, server.pid) for c in levels]
                rss_rounds.append(round(rss_kib(server.pid) / 1024, 1))
            metrics = httpx.get(url + "/metrics").text
    base = rows[0]["tokens_per_s"]
    for row in rows:
        row["speedup"] = round(row["tokens_per_s"] / base, 2)
    result = {"model": name, "dtype": args.dtype, "max_tokens": args.max_tokens, "threads": args.threads, "levels": rows,
              "rss_start_mib": round(rss_start / 1024, 1), "rss_after_each_round_mib": rss_rounds,
              "forward_passes": next((line.split()[-1] for line in metrics.splitlines()
                                      if line.startswith("bigmodel_forward_passes_total")), None)}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"model {name}, {args.max_tokens} new tokens per request, {args.requests} requests per client, "
          f"{args.dtype}, torch threads {args.threads}, round {args.rounds} of {args.rounds}\n")
    print("| clients | requests | tokens | seconds | tokens/s | × 1 client | TTFT p50 | TTFT p95 | RSS min–max |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clients']} | {r['requests']} | {r['tokens']} | {r['seconds']} | {r['tokens_per_s']} | "
              f"{r['speedup']} | {r['ttft_p50_ms']} ms | {r['ttft_p95_ms']} ms | "
              f"{r['rss_min_mib']}–{r['rss_max_mib']} MiB |")
    rounds = ", ".join(f"{r} MiB" for r in rss_rounds)
    print(f"\nserver RSS after warm-up {result['rss_start_mib']} MiB; after each round: {rounds}")
    print(f"forward passes: {result['forward_passes']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
