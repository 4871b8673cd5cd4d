"""/v1/completions on a served seq2seq Transformer: the text bm.generate writes, streamed too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bigmodel.tasks.generation import generate as generate_text

try:  # openai >= 3 ships httpx2; older clients use httpx (same API)
    import httpx2 as httpx
except ImportError:
    httpx = pytest.importorskip("httpx")

SOURCE = "the first of May, 2001"


@pytest.fixture(scope="module")
def seq2seq_server(tiny_seq2seq: Path) -> Iterator[object]:
    from bigmodel.serve import BackgroundServer, create_app

    app = create_app([str(tiny_seq2seq)], max_batch_size=2, max_concurrency=4)
    with BackgroundServer(app) as running:
        yield running


def complete(server: object, **body: object) -> httpx.Response:
    return httpx.post(server.url + "/v1/completions", json={"model": "tiny-seq2seq", **body}, timeout=30)


def test_completion_is_the_greedy_output_of_bm_generate(seq2seq_server: object, tiny_seq2seq: Path) -> None:
    expected = generate_text(SOURCE, model=str(tiny_seq2seq), max_new_tokens=12, do_sample=False)
    r = complete(seq2seq_server, prompt=SOURCE, max_tokens=12, temperature=0)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["choices"][0]["text"] == expected and expected
    assert body["usage"]["prompt_tokens"] == len(SOURCE)  # one character a token
    assert body["usage"]["completion_tokens"] > 0
    models = httpx.get(seq2seq_server.url + "/v1/models").json()["data"]
    assert models[0]["family"] == "transformer"


def test_streamed_deltas_concatenate_to_the_plain_completion(seq2seq_server: object) -> None:
    kwargs = dict(prompt=["23 MAR 1987", SOURCE], max_tokens=12, temperature=0)
    plain = [c["text"] for c in complete(seq2seq_server, **kwargs).json()["choices"]]
    streamed = ["", ""]
    with httpx.stream("POST", seq2seq_server.url + "/v1/completions", timeout=30,
                      json={"model": "tiny-seq2seq", "stream": True, **kwargs}) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                for choice in json.loads(line[6:])["choices"]:
                    streamed[choice["index"]] += choice["text"]
    assert streamed == plain and all(plain)


def test_seeded_sampling_is_reproducible(seq2seq_server: object) -> None:
    first = complete(seq2seq_server, prompt=SOURCE, max_tokens=12, temperature=1.0, seed=5).json()
    again = complete(seq2seq_server, prompt=SOURCE, max_tokens=12, temperature=1.0, seed=5).json()
    assert first["choices"][0]["text"] == again["choices"][0]["text"]


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"prompt": "1 MAR 1987 " * 10, "max_tokens": 4}, "prompt", "encoder's context of 48"),
    ({"prompt": SOURCE, "max_tokens": 48}, "max_tokens", "decoder's context of 48"),
])
def test_what_does_not_fit_is_a_400_naming_the_field(seq2seq_server: object, body: dict, field: str,
                                                     words: str) -> None:
    r = complete(seq2seq_server, **body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == field and words in error["message"]
    assert complete(seq2seq_server, prompt=SOURCE, max_tokens=2).status_code == 200


@pytest.mark.parametrize("stream", [False, True])
def test_chat_is_a_400_naming_the_model(seq2seq_server: object, stream: bool) -> None:
    r = httpx.post(seq2seq_server.url + "/v1/chat/completions", timeout=30, json={
        "model": "tiny-seq2seq", "messages": [{"role": "user", "content": SOURCE}], "max_tokens": 4,
        "stream": stream})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == "model" and "tiny-seq2seq is an encoder-decoder" in error["message"]
