"""/metrics: valid Prometheus text (prometheus_client) with the same metric names as before."""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client.parser import text_string_to_metric_families

from bigmodel.serve.metrics import Metrics


def _engine(name: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, tokens_generated=12, prompt_tokens=5, forward_calls=7, queue_depth=0,
                           running=1, ttft_sum=0.25, ttft_count=2, recent_tokens_per_second=lambda: 3.5)


def test_render_parses_and_keeps_the_names() -> None:
    metrics = Metrics([_engine("tiny-gpt")])
    metrics.observe("/v1/completions", 200, 0.03)
    metrics.observe("/v1/completions", 200, 0.2)
    metrics.observe("/no/such/path", 404, 0.001)
    text = metrics.render()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {"bigmodel_requests", "bigmodel_request_duration_seconds", "bigmodel_generated_tokens",
            "bigmodel_prompt_tokens", "bigmodel_forward_passes", "bigmodel_generation_tokens_per_second",
            "bigmodel_queue_depth", "bigmodel_running_sequences", "bigmodel_time_to_first_token_seconds"} <= set(families)
    requests = {(s.labels["path"], s.labels["status"]): s.value for s in families["bigmodel_requests"].samples
                if s.name == "bigmodel_requests_total"}
    assert requests == {("/v1/completions", "200"): 2.0, ("other", "404"): 1.0}
    buckets = {s.labels["le"]: s.value for s in families["bigmodel_request_duration_seconds"].samples
               if s.name.endswith("_bucket") and s.labels["path"] == "/v1/completions"}
    assert buckets["0.05"] == 1.0 and buckets["0.25"] == 2.0 and buckets["+Inf"] == 2.0
    assert 'bigmodel_generated_tokens_total{model="tiny-gpt"} 12' in text
    assert 'bigmodel_queue_depth{model="tiny-gpt"} 0' in text


def test_two_apps_keep_separate_counts() -> None:
    first, second = Metrics([]), Metrics([])
    first.observe("/health", 200, 0.001)
    assert 'path="/health"' in first.render() and 'path="/health"' not in second.render()
