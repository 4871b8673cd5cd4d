"""/metrics in the Prometheus text format, through prometheus_client.

    bigmodel_requests_total{path,status}            counter
    bigmodel_request_duration_seconds{path}         histogram (until the last byte is sent)
    bigmodel_generated_tokens_total{model}          counter; rate() of it is tokens/s
    bigmodel_prompt_tokens_total{model}             counter
    bigmodel_generation_tokens_per_second{model}    gauge, over the last 10 s
    bigmodel_time_to_first_token_seconds{model}     summary (sum, count)
    bigmodel_queue_depth{model}                     gauge, sequences waiting for a batch slot
    bigmodel_running_sequences{model}               gauge, sequences in the running batch
    bigmodel_forward_passes_total{model}            counter (prefills + batched decode steps)

Each app has its own registry (several apps may live in one process, as in the tests). The
request metrics are recorded by an ASGI middleware; the batching engines' figures are read
when /metrics is scraped (a collector), so they cost nothing between scrapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from .batching import BatchEngine
from .response_timing import TimedToLastByte

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


class EngineCollector(Collector):
    """The batching engines' counters and gauges, read at scrape time."""

    def __init__(self, engines: list[BatchEngine]) -> None:
        self.engines = engines

    def collect(self) -> Iterator[Metric]:
        counters = (
            ("bigmodel_generated_tokens", "Tokens generated.", lambda e: e.tokens_generated),
            ("bigmodel_prompt_tokens", "Prompt tokens prefilled.", lambda e: e.prompt_tokens),
            ("bigmodel_forward_passes", "Model forward passes.", lambda e: e.forward_calls),
        )
        gauges = (
            ("bigmodel_generation_tokens_per_second", "Tokens generated per second over the last 10 s.",
             lambda e: round(e.recent_tokens_per_second(), 3)),
            ("bigmodel_queue_depth", "Sequences waiting for a batch slot.", lambda e: e.queue_depth),
            ("bigmodel_running_sequences", "Sequences in the running batch.", lambda e: e.running),
        )
        for name, help, value in counters:
            family = CounterMetricFamily(name, help, labels=["model"])
            for e in self.engines:
                family.add_metric([e.name], value(e))
            yield family
        for name, help, value in gauges:
            family = GaugeMetricFamily(name, help, labels=["model"])
            for e in self.engines:
                family.add_metric([e.name], value(e))
            yield family
        ttft = SummaryMetricFamily("bigmodel_time_to_first_token_seconds",
                                   "Time from submission to the first token.", labels=["model"])
        for e in self.engines:
            ttft.add_metric([e.name], count_value=e.ttft_count, sum_value=e.ttft_sum)
        yield ttft


class Metrics:
    def __init__(self, engines: list[BatchEngine]) -> None:
        self.engines = engines
        self.registry = CollectorRegistry()
        self.requests = Counter("bigmodel_requests", "HTTP requests by path and status.",
                                ["path", "status"], registry=self.registry)
        self.duration = Histogram("bigmodel_request_duration_seconds", "Time from request to last byte.",
                                  ["path"], buckets=BUCKETS, registry=self.registry)
        self.registry.register(EngineCollector(engines))

    def observe(self, path: str, status: int, seconds: float) -> None:
        label = path_label(path)
        self.requests.labels(label, str(status)).inc()
        self.duration.labels(label).observe(seconds)

    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")

    def middleware_class(self) -> type:
        metrics = self

        class RecordRequests(TimedToLastByte):
            """Pure ASGI, so that a streamed response is timed to its last byte."""

            def __init__(self, app: Any) -> None:
                super().__init__(app, lambda scope, status, seconds:
                                 metrics.observe(scope.get("path", ""), status, seconds))

        return RecordRequests
