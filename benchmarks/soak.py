"""Soak `bigmodel serve` on loopback: a bounded mixed load, zero 5xx, flat memory.

Starts ``bigmodel serve`` in its own process on a free 127.0.0.1 port and, for ``--seconds``
(default 300), keeps ``--clients`` threads busy with a mix of requests, each thread on one
kind at a time, chosen at random (seeded):

- ``complete``: a non-streamed completion (1-32 tokens, n 1-2, greedy or sampled);
- ``stream``: a streamed chat completion read to ``[DONE]``;
- ``disconnect``: a streamed completion whose client hangs up after the first 1-3 chunks;
- ``fill_mask`` and ``embed``: a BERT masked LM and a sentence embedder served beside the GPT
  (by default tiny-bert-en and all-MiniLM-L6-v2);
- ``bad``: a request the server must refuse with a 4xx JSON error (bad JSON, unknown model,
  top_p out of range, a body over the size limit, a prompt beyond the context, n too large).

It samples the server's resident memory (VmRSS) every second. The verdict: no answer with a
5xx status, no transport error, every ``bad`` request answered 4xx with a JSON ``error``, and
RSS growth under ``--max-rss-growth`` (5%): the median RSS of the last fifth of the run
against the median of the fifth after the warm-up (the first fifth, when the allocator and
caches fill). Exit status 0 when all hold, 1 otherwise.

    PYTHONPATH=src .venv/bin/python benchmarks/soak.py                  # 5 minutes
    PYTHONPATH=src .venv/bin/python benchmarks/soak.py --seconds 30 --json
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loopback import httpx_module, rss_kib, served  # noqa: E402

PROMPTS = ["In the beginning", "And God said", "The LORD is my shepherd", "Blessed are the", "And it came to pass",
           "你好", "naïve café ☕", "\u200b\u202eodd marks\u202c", "x" * 40]


class Tally:
    """Thread-safe counts of (kind, status) and the problems seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: collections.Counter[tuple[str, int]] = collections.Counter()
        self.problems: list[str] = []

    def add(self, kind: str, status: int, problem: str | None = None) -> None:
        with self.lock:
            self.counts[(kind, status)] += 1
            if problem and len(self.problems) < 20:
                self.problems.append(f"{kind}: {problem}")


def _bad_request(rng: random.Random, model: str, context: int) -> tuple[str, Any]:
    """(path, json-or-bytes body) of one request the server must refuse with a 4xx."""
    choices = [
        ("/v1/completions", b"{not json"),
        ("/v1/completions", {"model": "../../etc/passwd", "prompt": "hi"}),
        ("/v1/completions", {"model": model, "prompt": "hi", "top_p": 1.5}),
        ("/v1/completions", {"model": model, "prompt": "hi", "temperature": -1}),
        ("/v1/completions", {"model": model, "prompt": "hi", "n": 10_000}),
        ("/v1/completions", {"model": model, "prompt": "hi", "max_tokens": context + 1}),
        ("/v1/completions", {"model": model, "prompt": "word " * (context + 10), "max_tokens": 1}),
        ("/v1/chat/completions", {"model": model, "messages": "not a list"}),
        ("/v1/completions", {"model": model, "prompt": "x" * (3 * 1024 * 1024)}),
    ]
    return choices[rng.randrange(len(choices))]


def client(url: str, gpt: str, bert: str | None, embedder: str | None, context: int, seed: int, stop_at: float,
           tally: Tally) -> None:
    httpx = httpx_module()
    rng = random.Random(seed)
    kinds = ["complete", "complete", "stream", "stream", "disconnect", "bad"]
    kinds += (["fill_mask"] if bert else []) + (["embed"] if embedder else [])
    with httpx.Client(base_url=url, timeout=120) as http:
        while time.monotonic() < stop_at:
            kind = rng.choice(kinds)
            prompt = rng.choice(PROMPTS)
            try:
                if kind == "complete":
                    body = {"model": gpt, "prompt": prompt, "max_tokens": rng.randint(1, 32), "n": rng.randint(1, 2),
                            "temperature": rng.choice([0, 0.8]), "seed": rng.randint(0, 100)}
                    r = http.post("/v1/completions", json=body)
                    problem = None if r.status_code == 200 and len(r.json()["choices"]) == body["n"] else r.text[:200]
                    tally.add(kind, r.status_code, problem)
                elif kind in ("stream", "disconnect"):
                    path = "/v1/chat/completions" if kind == "stream" else "/v1/completions"
                    body = {"model": gpt, "max_tokens": rng.randint(4, 32), "stream": True, "temperature": 0.7}
                    body.update({"messages": [{"role": "user", "content": prompt}]} if kind == "stream"
                                else {"prompt": prompt})
                    hang_up_after = rng.randint(1, 3) if kind == "disconnect" else None
                    with http.stream("POST", path, json=body) as r:
                        chunks, done = 0, False
                        for line in r.iter_lines():
                            if line.startswith("data: "):
                                chunks += 1
                                done = line == "data: [DONE]"
                            if hang_up_after is not None and chunks >= hang_up_after:
                                break  # leaving the block closes the connection mid-stream
                        ok = r.status_code == 200 and (done or hang_up_after is not None)
                        detail = "" if ok or r.status_code == 200 else r.read().decode(errors="replace")[:160]
                        tally.add(kind, r.status_code, None if ok else f"status {r.status_code}, done={done} {detail}")
                elif kind == "fill_mask":
                    r = http.post("/v1/fill-mask", json={"model": bert, "text": "In the beginning [MASK] created the heaven."})
                    tally.add(kind, r.status_code, None if r.status_code == 200 else r.text[:200])
                elif kind == "embed":
                    r = http.post("/v1/embeddings", json={"model": embedder, "input": [prompt, "and the earth"]})
                    tally.add(kind, r.status_code, None if r.status_code == 200 else r.text[:200])
                else:
                    path, body = _bad_request(rng, gpt, context)
                    if isinstance(body, bytes):
                        r = http.post(path, content=body, headers={"content-type": "application/json"})
                    else:
                        r = http.post(path, json=body)
                    ok = 400 <= r.status_code < 500 and "error" in r.json()
                    tally.add(kind, r.status_code, None if ok else f"{path} {str(body)[:60]} -> {r.status_code}")
            except httpx.HTTPError as exc:
                tally.add(kind, 0, f"transport error {type(exc).__name__}: {exc}")


def soak(seconds: float, clients: int, gpt: str, bert: str | None, embedder: str | None, threads: int,
         seed: int = 0, max_rss_growth: float = 0.05) -> dict[str, Any]:
    """Run the soak; returns the counts, the RSS figures and ``passed``."""
    serve_args = ["--model", gpt, "--threads", str(threads), "--max-concurrency", str(8 * clients)]
    serve_args += (["--model", bert] if bert else []) + (["--embedding-model", embedder] if embedder else [])
    httpx = httpx_module()
    with served(serve_args) as (url, server, models):
        def name_of(source: str | None) -> str | None:
            return next((m for m in models if source and (Path(source).name in m or m in source)), None)

        gpt_name, bert_name, embedder_name = name_of(gpt), name_of(bert), name_of(embedder)
        context = httpx.get(f"{url}/v1/models/{gpt_name}").json().get("context_length") or 1024
        tally = Tally()
        rss: list[tuple[float, int]] = []
        start = time.monotonic()
        stop_at = start + seconds
        workers = [threading.Thread(target=client, args=(url, gpt_name, bert_name, embedder_name, context, seed + k,
                                                         stop_at, tally))
                   for k in range(clients)]
        for w in workers:
            w.start()
        while any(w.is_alive() for w in workers):
            rss.append((time.monotonic() - start, rss_kib(server.pid)))
            time.sleep(1.0)
        for w in workers:
            w.join()
        health = httpx.get(url + "/health", timeout=10).status_code
    fifth = seconds / 5
    after_warmup = [kib for t, kib in rss if fifth <= t < 2 * fifth] or [rss[0][1]]
    final = [kib for t, kib in rss if t >= seconds - fifth] or [rss[-1][1]]
    base, end = statistics.median(after_warmup), statistics.median(final)
    growth = (end - base) / base
    by_status = collections.Counter()
    by_kind: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for (kind, status), count in sorted(tally.counts.items()):
        by_status[status] += count
        by_kind[kind][str(status)] = count
    server_errors = sum(c for s, c in by_status.items() if s >= 500)
    transport_errors = by_status.get(0, 0)
    passed = server_errors == 0 and transport_errors == 0 and not tally.problems and growth < max_rss_growth \
        and health == 200
    return {"seconds": seconds, "clients": clients, "requests": sum(by_status.values()),
            "requests_per_s": round(sum(by_status.values()) / seconds, 1), "by_kind": dict(by_kind),
            "status_5xx": server_errors, "transport_errors": transport_errors, "problems": tally.problems,
            "rss_after_warmup_mib": round(base / 1024, 1), "rss_end_mib": round(end / 1024, 1),
            "rss_peak_mib": round(max(k for _, k in rss) / 1024, 1), "rss_growth": round(growth, 4),
            "health_after": health, "passed": passed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--clients", type=int, default=6, help="concurrent client threads")
    parser.add_argument("--model", default="tiny-gpt-en", help="the GPT to serve")
    parser.add_argument("--bert", default="tiny-bert-en", help="a BERT masked LM for fill-mask ('' for none)")
    parser.add_argument("--embedder", default="all-minilm-l6-v2", help="a model for /v1/embeddings ('' for none)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the server")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-rss-growth", type=float, default=0.05)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = soak(args.seconds, args.clients, args.model, args.bert or None, args.embedder or None, args.threads,
                  args.seed, args.max_rss_growth)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['requests']} requests in {args.seconds:.0f} s from {args.clients} clients "
              f"({result['requests_per_s']}/s)")
        for kind, statuses in result["by_kind"].items():
            print(f"  {kind:<11} " + ", ".join(f"{s}: {c}" for s, c in statuses.items()))
        print(f"5xx: {result['status_5xx']}, transport errors: {result['transport_errors']}, "
              f"health after: {result['health_after']}")
        print(f"server RSS after warm-up {result['rss_after_warmup_mib']} MiB, at the end {result['rss_end_mib']} MiB "
              f"(growth {result['rss_growth']:+.1%}), peak {result['rss_peak_mib']} MiB")
        for problem in result["problems"]:
            print("  problem:", problem)
        print("PASSED" if result["passed"] else "FAILED")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
