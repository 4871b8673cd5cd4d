"""A corpus of bad requests to the server: each gets a 4xx JSON error, and the server goes on.

Model names in requests never reach the file system: a path, a traversal or an encoded
traversal is an unknown model (400), whatever folders exist around the server.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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
    # Reliability II: numbers beyond what the server can take are 400s, never 500s
    ("seed beyond 64 bits", "/v1/completions", body(seed=2**64, temperature=1)),
    ("seed below -2**63", "/v1/completions", body(seed=-(2**63) - 1, temperature=1)),
    ("seed 2**200", "/v1/completions", body(seed=2**200, temperature=1)),
    ("seed float", "/v1/completions", body(seed=1.5)),
    ("temperature 1e400 (inf)", "/v1/completions", b'{"model": "tiny-gpt-en", "prompt": "x", "temperature": 1e400}'),
    ("repetition_penalty Infinity", "/v1/completions",
     b'{"model": "tiny-gpt-en", "prompt": "x", "repetition_penalty": Infinity}'),
    ("max_tokens 10**30", "/v1/completions", body(max_tokens=10**30)),
    ("n beyond the limit", "/v1/completions", body(n=10**6)),
    ("top_k huge negative", "/v1/completions", body(top_k=-(2**70))),
    ("classify an empty list", "/v1/classify", json.dumps({"text": []}).encode()),
    ("classify an empty text in a list", "/v1/classify", json.dumps({"text": ["ok", ""]}).encode()),
    ("classify too many texts", "/v1/classify", json.dumps({"text": ["a"] * 2049}).encode()),
    ("classify a number", "/v1/classify", json.dumps({"text": 5}).encode()),
    ("classify with an unknown long_texts", "/v1/classify", json.dumps({"text": "ok", "long_texts": "all"}).encode()),
    ("classify top_k zero", "/v1/classify", json.dumps({"text": "ok", "top_k": 0}).encode()),
]


TINY_BERT = Path(__file__).resolve().parents[2] / "src/bigmodel/assets/models/tiny-bert-en"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    """A random two-label classifier with tiny-bert-en's tokenizer (shapes are all that matter)."""
    from bigmodel.models.bert import BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("classifier") / "tiny-classifier"
    torch.manual_seed(0)
    vocab = json.loads((TINY_BERT / "config.json").read_text())["vocab_size"]
    config = BertConfig(vocab_size=vocab, max_seq_len=64, d_model=16, n_layers=1, n_heads=2, d_ff=32,
                        id2label={0: "negative", 1: "positive"})
    BertForSequenceClassification(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(TINY_BERT / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def server(classifier):
    from bigmodel.serve import BackgroundServer, create_app

    app = create_app(["tiny-gpt-en"], classifiers=[str(classifier)], max_batch_size=2, max_concurrency=8)
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


def test_a_tiny_temperature_answers_like_temperature_zero(server) -> None:
    greedy = httpx.post(server.url + "/v1/completions", json=GOOD | {"max_tokens": 4}, timeout=60)
    tiny = httpx.post(server.url + "/v1/completions", json=GOOD | {"max_tokens": 4, "temperature": 1e-45,
                                                                    "seed": 2**64 - 1}, timeout=60)
    assert tiny.status_code == 200, tiny.text[:300]
    assert tiny.json()["choices"][0]["text"] == greedy.json()["choices"][0]["text"]


def test_a_sequential_client_never_sees_a_503(server) -> None:
    """Alternating n=1 and n=8 (the whole max_concurrency) one after another: the room a
    finished request held is free as soon as its answer has arrived."""
    statuses = []
    for i in range(20):
        n = 8 if i % 2 else 1
        r = httpx.post(server.url + "/v1/completions",
                       json=GOOD | {"n": n, "temperature": 1, "seed": i, "max_tokens": 2}, timeout=60)
        statuses.append(r.status_code)
    assert statuses == [200] * 20, statuses
