"""A corpus of bad requests to the server: each gets a 4xx JSON error, and the server goes on.

Model names in requests never reach the file system: a path, a traversal or an encoded
traversal is an unknown model (400), whatever folders exist around the server.
"""

from __future__ import annotations

import json

import pytest
import torch

try:  # openai >= 3 ships httpx2; older clients use httpx (same API)
    import httpx2 as httpx
except ImportError:
    httpx = pytest.importorskip("httpx")

torch.set_num_threads(1)

GOOD = {"model": "tiny-gpt-en", "prompt": "Hello", "max_tokens": 2, "temperature": 0}


def body(**changes: object) -> bytes:
    values = dict(GOOD)
    for key, value in changes.items():
        if value is None:
            values.pop(key)
        else:
            values[key] = value
    return json.dumps(values).encode()


TRAVERSALS = ["../tiny-gpt-en", "../../../../etc/passwd", "/etc/passwd", "tiny-gpt-en/../../../etc",
              "..%2F..%2Fetc%2Fpasswd", "%2e%2e/%2e%2e/etc", "~/.ssh", "~root", "C:\\Windows\\system32",
              "./tiny-gpt-en", "tiny-gpt-en/", "tiny-gpt-en\x00.txt", "gpt2", "/", ".", "..", ""]

CASES: list[tuple[str, str, bytes]] = [
    *[(f"model {name!r}", "/v1/completions", body(model=name)) for name in TRAVERSALS],
    *[(f"chat model {name!r}", "/v1/chat/completions",
       json.dumps({"model": name, "messages": [{"role": "user", "content": "hi"}]}).encode())
      for name in TRAVERSALS[:6]],
    ("model of the wrong type", "/v1/completions", body(model=["tiny-gpt-en"])),
    ("max_tokens text", "/v1/completions", body(max_tokens="5")),
    ("max_tokens float", "/v1/completions", body(max_tokens=1.5)),
    ("max_tokens bool", "/v1/completions", body(max_tokens=True)),
    ("n zero", "/v1/completions", body(n=0)),
    ("n negative", "/v1/completions", body(n=-1)),
    ("n text", "/v1/completions", body(n="2")),
    ("temperature text", "/v1/completions", body(temperature="hot")),
    ("temperature NaN", "/v1/completions", b'{"model": "tiny-gpt-en", "prompt": "x", "temperature": NaN}'),
    ("temperature Infinity", "/v1/completions",
     b'{"model": "tiny-gpt-en", "prompt": "x", "temperature": Infinity}'),
    ("top_p negative", "/v1/completions", body(top_p=-0.5)),
    ("stop of the wrong type", "/v1/completions", body(stop=123)),
    ("stream text", "/v1/completions", body(stream="yes")),
    ("seed text", "/v1/completions", body(seed="x")),
    ("empty prompt list", "/v1/completions", body(prompt=[])),
    ("token ids out of vocabulary", "/v1/completions", body(prompt=[10**9])),
    ("negative token id", "/v1/completions", body(prompt=[-1])),
    ("lone surrogate prompt", "/v1/completions", b'{"model": "tiny-gpt-en", "prompt": "caf\\udce9", "max_tokens": 2}'),
    ("1 MB prompt", "/v1/completions", body(prompt="word " * (1 << 18))),
    ("empty body", "/v1/completions", b""),
    ("JSON null", "/v1/completions", b"null"),
    ("JSON string", "/v1/completions", b'"prompt"'),
    ("deeply nested JSON", "/v1/completions", b"[" * 100_000 + b"]" * 100_000),
    ("chat messages not a list", "/v1/chat/completions", json.dumps({"model": "tiny-gpt-en", "messages": "hi"}).encode()),
    ("chat content of the wrong type", "/v1/chat/completions",
     json.dumps({"model": "tiny-gpt-en", "messages": [{"role": "user", "content": 5}]}).encode()),
    ("chat empty messages", "/v1/chat/completions", json.dumps({"model": "tiny-gpt-en", "messages": []}).encode()),
]


@pytest.fixture(scope="module")
def server():
    from bigmodel.serve.app import BackgroundServer, create_app

    app = create_app(["tiny-gpt-en"], max_batch_size=2, max_concurrency=4)
    with BackgroundServer(app) as running:
        yield running


def test_corpus_size():
    assert len(CASES) >= 40


@pytest.mark.parametrize(("path", "raw"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_request_is_a_4xx_json_error(server, path, raw) -> None:
    r = httpx.post(server.url + path, content=raw, headers={"Content-Type": "application/json"}, timeout=60)
    assert 400 <= r.status_code < 500, r.text[:300]
    error = r.json()["error"]
    assert error["message"] and "Traceback" not in error["message"]
    after = httpx.post(server.url + "/v1/completions", json=GOOD, timeout=60)
    assert after.status_code == 200


def test_serve_binds_loopback_unless_told_otherwise() -> None:
    from bigmodel.cli import build_parser

    assert build_parser().parse_args(["serve", "--model", "tiny-gpt-en"]).host == "127.0.0.1"
