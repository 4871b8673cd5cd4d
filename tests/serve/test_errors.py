"""Bad requests get OpenAI's error JSON naming the field, and the server keeps serving."""

from __future__ import annotations

import json

import pytest

try:  # openai >= 3 ships httpx2; older clients use httpx (same API)
    import httpx2 as httpx
except ImportError:
    httpx = pytest.importorskip("httpx")

GOOD = {"model": "tiny-gpt", "prompt": "Hello", "max_tokens": 2, "temperature": 0}


def with_(**changes):
    body = dict(GOOD)
    for key, value in changes.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    return json.dumps(body).encode()


CASES = [
    # (id, path, raw body, status, field named in the message)
    ("missing model", "/v1/completions", with_(model=None), 400, "model"),
    ("unknown model", "/v1/completions", with_(model="gpt-4"), 400, "model"),
    ("path as model", "/v1/completions", with_(model="../../../etc/passwd"), 400, "model"),
    ("max_tokens 0", "/v1/completions", with_(max_tokens=0), 400, "max_tokens"),
    ("max_tokens negative", "/v1/completions", with_(max_tokens=-5), 400, "max_tokens"),
    ("max_tokens over context", "/v1/completions", with_(max_tokens=5000), 400, "max_tokens"),
    ("temperature < 0", "/v1/completions", with_(temperature=-0.1), 400, "temperature"),
    ("top_p > 1", "/v1/completions", with_(top_p=1.5), 400, "top_p"),
    ("n over the limit", "/v1/completions", with_(n=64), 400, "n"),
    ("more sequences than the server runs", "/v1/completions", with_(prompt=["a", "b"], n=8), 400, "n="),
    ("prompt missing", "/v1/completions", with_(prompt=None), 400, "prompt"),
    ("prompt of the wrong type", "/v1/completions", with_(prompt={"text": "x"}), 400, "prompt"),
    ("malformed JSON", "/v1/completions", b'{"model": "tiny-gpt", "prompt": ', 400, "JSON"),
    ("invalid UTF-8", "/v1/completions", b'{"model": "tiny-gpt", "prompt": "\xff\xfe"}', 400, "UTF-8"),
    ("not an object", "/v1/completions", b"[1, 2, 3]", 400, "JSON object"),
    ("10 MB body", "/v1/completions", b'{"prompt": "' + b"x" * (10 * 1024 * 1024) + b'"}', 413, "body"),
    ("chat without messages", "/v1/chat/completions", json.dumps({"model": "tiny-gpt"}).encode(), 400, "messages"),
    ("chat with a bad role", "/v1/chat/completions",
     json.dumps({"model": "tiny-gpt", "messages": [{"role": "robot", "content": "hi"}]}).encode(), 400,
     "messages.0.role"),
    ("embedding model that is not served", "/v1/embeddings",
     json.dumps({"model": "text-embedding-3-small", "input": "hi"}).encode(), 400, "model"),
    ("embeddings of nothing", "/v1/embeddings", json.dumps({"model": "all-minilm-l6-v2", "input": []}).encode(),
     400, "input"),
    ("generation with an embedding model", "/v1/completions", with_(model="all-minilm-l6-v2"), 400, "model"),
    ("fill-mask without a mask", "/v1/fill-mask", json.dumps({"text": "no mask here"}).encode(), 400, "mask"),
]


@pytest.mark.parametrize(("path", "body", "status", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_request_is_answered_and_the_server_goes_on(server, path, body, status, field) -> None:
    r = httpx.post(server.url + path, content=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert field in error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    after = httpx.post(server.url + "/v1/completions", json=GOOD, timeout=30)
    assert after.status_code == 200
    assert after.json()["choices"][0]["finish_reason"] == "length"


def test_unknown_path_is_a_404_in_the_same_shape(server) -> None:
    r = httpx.get(server.url + "/v1/nothing-here")
    assert r.status_code == 404
    assert "/v1/nothing-here" in r.json()["error"]["message"]


def test_the_openai_client_raises_its_own_error_types(server) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.completions.create(model="tiny-gpt", prompt="x", temperature=-1)
