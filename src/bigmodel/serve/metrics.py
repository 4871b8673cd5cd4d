"""Prometheus text for /metrics: requests, latency, tokens/s, queue, written out by hand.

    bigmodel_requests_total{path,status}            counter
    bigmodel_request_duration_seconds{path}         histogram (until the last byte is sent)
    bigmodel_generated_tokens_total{model}          counter; rate() of it is tokens/s
    bigmodel_generation_tokens_per_second{model}    gauge, over the last 10 s
    bigmodel_time_to_first_token_seconds{model}     summary (sum, count)
    bigmodel_queue_depth{model}                     gauge, sequences waiting for a batch slot
    bigmodel_running_sequences{model}               gauge, sequences in the running batch
    bigmodel_forward_passes_total{model}            counter (prefills + batched decode steps)
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

from .batching import BatchEngine

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
PATHS = ("/", "/health", "/metrics", "/v1/models", "/v1/completions", "/v1/chat/completions", "/v1/embeddings",
         "/v1/fill-mask", "/v1/classify", "/v1/attention")


def path_label(path: str) -> str:
    """A bounded set of labels: unknown paths must not grow the metric without end."""
    if path in PATHS:
        return path
    if path.startswith("/static/"):
        return "/static"
    if path.startswith("/v1/models/"):
        return "/v1/models/{id}"
    return "other"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    def __init__(self, engines: list[BatchEngine]) -> None:
        self.engines = engines
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.buckets: dict[str, list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
        self.duration_sum: dict[str, float] = defaultdict(float)
        self.duration_count: dict[str, int] = defaultdict(int)

    def observe(self, path: str, status: int, seconds: float) -> None:
        label = path_label(path)
        with self._lock:
            self.requests[(label, status)] += 1
            self.duration_sum[label] += seconds
            self.duration_count[label] += 1
            counts = self.buckets[label]
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1

    def render(self) -> str:
        out: list[str] = []

        def family(name: str, kind: str, help: str) -> None:
            out.append(f"# HELP {name} {help}")
            out.append(f"# TYPE {name} {kind}")

        with self._lock:
            family("bigmodel_requests_total", "counter", "HTTP requests by path and status.")
            for (path, status), n in sorted(self.requests.items()):
                out.append(f'bigmodel_requests_total{{path="{_escape(path)}",status="{status}"}} {n}')
            family("bigmodel_request_duration_seconds", "histogram", "Time from request to last byte.")
            for path in sorted(self.duration_count):
                p = _escape(path)
                for bound, n in zip(BUCKETS, self.buckets[path], strict=True):
                    out.append(f'bigmodel_request_duration_seconds_bucket{{path="{p}",le="{bound}"}} {n}')
                count = self.duration_count[path]
                out.append(f'bigmodel_request_duration_seconds_bucket{{path="{p}",le="+Inf"}} {count}')
                out.append(f'bigmodel_request_duration_seconds_sum{{path="{p}"}} {self.duration_sum[path]:.6f}')
                out.append(f'bigmodel_request_duration_seconds_count{{path="{p}"}} {count}')
        per_engine: list[tuple[str, str, str, Any]] = [
            ("bigmodel_generated_tokens_total", "counter", "Tokens generated.", lambda e: e.tokens_generated),
            ("bigmodel_prompt_tokens_total", "counter", "Prompt tokens prefilled.", lambda e: e.prompt_tokens),
            ("bigmodel_generation_tokens_per_second", "gauge", "Tokens generated per second over the last 10 s.",
             lambda e: round(e.recent_tokens_per_second(), 3)),
            ("bigmodel_queue_depth", "gauge", "Sequences waiting for a batch slot.", lambda e: e.queue_depth),
            ("bigmodel_running_sequences", "gauge", "Sequences in the running batch.", lambda e: e.running),
            ("bigmodel_forward_passes_total", "counter", "Model forward passes.", lambda e: e.forward_calls),
        ]
        for name, kind, help, value in per_engine:
            family(name, kind, help)
            for e in self.engines:
                out.append(f'{name}{{model="{_escape(e.name)}"}} {value(e)}')
        family("bigmodel_time_to_first_token_seconds", "summary", "Time from submission to the first token.")
        for e in self.engines:
            m = _escape(e.name)
            out.append(f'bigmodel_time_to_first_token_seconds_sum{{model="{m}"}} {e.ttft_sum:.6f}')
            out.append(f'bigmodel_time_to_first_token_seconds_count{{model="{m}"}} {e.ttft_count}')
        return "\n".join(out) + "\n"

    def middleware_class(self) -> type:
        metrics = self

        class RecordRequests:
            """Pure ASGI, so that a streamed response is timed to its last byte."""

            def __init__(self, app: Any) -> None:
                self.app = app

            async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
                if scope["type"] != "http":
                    await self.app(scope, receive, send)
                    return
                start = time.perf_counter()
                status = [500]
                recorded = [False]

                async def send_and_note(message: dict[str, Any]) -> None:
                    if message["type"] == "http.response.start":
                        status[0] = int(message["status"])
                    await send(message)
                    if message["type"] == "http.response.body" and not message.get("more_body", False):
                        recorded[0] = True
                        metrics.observe(scope.get("path", ""), status[0], time.perf_counter() - start)

                try:
                    await self.app(scope, receive, send_and_note)
                finally:
                    if not recorded[0]:  # the client went away mid-response
                        metrics.observe(scope.get("path", ""), status[0], time.perf_counter() - start)

        return RecordRequests
