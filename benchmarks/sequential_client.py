"""One strictly sequential client against `bigmodel serve`: it must never get a 503.

Alternates n=1 and n=8 sampled completions (n=8 is the whole ``--max-concurrency 8``), each
sent only after the previous answer was read. Before the fix in serve/batching.py a finished
request's sequences still counted until the decode loop tidied up, and on a busy CPU about one
request in five came back 503 "N sequences are running or waiting". Add CPU burners beside it
(``python -c 'while 1: pass' &``) to reproduce the conditions.

    PYTHONPATH=src .venv/bin/python benchmarks/sequential_client.py --requests 100
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loopback import httpx_module, served  # noqa: E402


def run(requests: int, model: str, threads: int, max_tokens: int) -> dict:
    httpx = httpx_module()
    statuses: collections.Counter[int] = collections.Counter()
    serve_args = ["--model", model, "--max-batch-size", "8", "--max-concurrency", "8", "--threads", str(threads)]
    started = time.perf_counter()
    with served(serve_args) as (url, _server, names):
        with httpx.Client(timeout=120) as client:
            for i in range(requests):
                n = 8 if i % 2 else 1
                body = {"model": names[0], "prompt": "And God said", "max_tokens": max_tokens, "n": n,
                        "temperature": 1.0, "seed": i}
                statuses[client.post(url + "/v1/completions", json=body).status_code] += 1
    return {"requests": requests, "statuses": dict(statuses), "status_503": statuses[503],
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--model", default="tiny-gpt-en")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=8)
    args = parser.parse_args()
    result = run(args.requests, args.model, args.threads, args.max_tokens)
    print(json.dumps(result))
    return 0 if result["status_503"] == 0 and set(result["statuses"]) == {200} else 1


if __name__ == "__main__":
    sys.exit(main())
