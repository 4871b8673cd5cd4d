"""/v1/completions and chat sample with the model's generation_config.json for every field the
request leaves out; a field the request sets (temperature 0 included) wins."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bigmodel.decoding.model_defaults import GenerationConfig
from bigmodel.serve.generation_jobs import sampling_params
from bigmodel.serve.schemas import CompletionRequest
from bigmodel.tasks.generation import generate as generate_text

try:  # openai >= 3 ships httpx2; older clients use httpx (same API)
    import httpx2 as httpx
except ImportError:
    httpx = pytest.importorskip("httpx")

RECIPE = {"do_sample": True, "temperature": 1.5, "top_k": 5, "top_p": 0.95, "repetition_penalty": 1.5}
GIVEN = {"temperature": 1.5, "top_k": 5, "top_p": 0.95, "repetition_penalty": 1.5}


def _request(**fields: object) -> CompletionRequest:
    return CompletionRequest.model_validate({"model": "m", "prompt": "hi", **fields})


def test_fields_left_out_come_from_the_file() -> None:
    p = sampling_params(_request(), 8, [], 0, GenerationConfig.from_dict(RECIPE))
    assert (p.temperature, p.top_k, p.top_p, p.repetition_penalty) == (1.5, 5, 0.95, 1.5)
    p = sampling_params(_request(temperature=0.5, top_k=0), 8, [], 0, GenerationConfig.from_dict(RECIPE))
    assert (p.temperature, p.top_k, p.top_p, p.repetition_penalty) == (0.5, 0, 0.95, 1.5)


def test_temperature_zero_is_plain_greedy_and_no_file_is_openai() -> None:
    p = sampling_params(_request(temperature=0), 8, [], 0, GenerationConfig.from_dict(RECIPE))
    assert p.greedy and p.repetition_penalty is None and not p.top_k
    p = sampling_params(_request(), 8, [], 0, None)
    assert (p.temperature, p.top_p, p.top_k, p.repetition_penalty) == (1.0, 1.0, 0, None)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, Path]]:
    from bigmodel.serve import BackgroundServer, create_app

    from .conftest import save_tiny_gpt

    folder = save_tiny_gpt(tmp_path_factory.mktemp("models") / "gpt-defaults")
    (folder / "generation_config.json").write_text(json.dumps(RECIPE))
    with BackgroundServer(create_app([str(folder)], max_batch_size=2, max_concurrency=4)) as running:
        yield running, folder


def _complete(server: object, **fields: object) -> str:
    body = {"model": "gpt-defaults", "prompt": "Once upon a time", "max_tokens": 8, **fields}
    r = httpx.post(server.url + "/v1/completions", json=body, timeout=30)  # type: ignore[attr-defined]
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["text"]


def test_http_defaults_and_overrides(served) -> None:
    server, folder = served
    for seed in (1, 2):
        assert _complete(server, seed=seed) == _complete(server, seed=seed, **GIVEN)
    assert _complete(server, temperature=0) == generate_text("Once upon a time", model=str(folder),
                                                             max_new_tokens=8, do_sample=False)
