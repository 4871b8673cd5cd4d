"""The OpenAI-compatible API, driven by the official openai client against a live server."""

from __future__ import annotations

import base64
import json
import struct
import threading
import time

import pytest
import torch

import bigmodel as bm
from bigmodel.decoding import generate
from bigmodel.tasks.generation import generate as generate_text
from bigmodel.tokenization import load_tokenizer

openai = pytest.importorskip("openai")
try:  # openai >= 3 ships httpx2; older clients use httpx (same API)
    import httpx2 as httpx
except ImportError:
    httpx = pytest.importorskip("httpx")


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=30)


def engine_of(server):
    return server.app.state.registry.models["tiny-gpt"].engine


def test_model_list_names_exactly_the_served_models(client) -> None:
    models = {m.id: m for m in client.models.list().data}
    assert set(models) == {"tiny-gpt", "tiny-bert", "all-minilm-l6-v2", "tiny-sentiment"}
    assert models["tiny-gpt"].owned_by == "bigmodel"


def test_completion_at_temperature_0_is_the_greedy_continuation(client, tiny_gpt) -> None:
    prompt = "Hello world, this is"
    r = client.completions.create(model="tiny-gpt", prompt=prompt, max_tokens=12, temperature=0)
    expected = generate_text(prompt, model=bm.load(tiny_gpt), tokenizer=load_tokenizer(tiny_gpt),
                             max_new_tokens=12, temperature=0)
    assert r.choices[0].text == expected
    assert r.choices[0].finish_reason == "length"
    tok = load_tokenizer(tiny_gpt)
    assert r.usage.prompt_tokens == len(tok.encode(prompt))
    assert r.usage.completion_tokens == 12


def test_streamed_deltas_concatenate_to_the_plain_completion(client) -> None:
    kwargs = dict(model="tiny-gpt", prompt="Once upon a time", max_tokens=20, temperature=0)
    plain = client.completions.create(**kwargs).choices[0].text
    chunks = list(client.completions.create(stream=True, **kwargs))
    deltas = [c.choices[0].text for c in chunks if c.choices]
    assert len([d for d in deltas if d]) > 1  # it really streamed
    assert "".join(deltas) == plain
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


def test_stream_ends_with_done_and_usage_when_asked(server) -> None:
    body = {"model": "tiny-gpt", "prompt": "a", "max_tokens": 3, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    with httpx.stream("POST", server.url + "/v1/completions", json=body, timeout=30) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line[len("data: "):] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["usage"]["completion_tokens"] == 3


def test_stop_sequence_is_cut_from_the_text(client) -> None:
    kwargs = dict(model="tiny-gpt", prompt="Hello world, this is", max_tokens=20, temperature=0)
    full = client.completions.create(**kwargs).choices[0].text
    stop = full[6:9]
    r = client.completions.create(stop=[stop], **kwargs)
    assert r.choices[0].text == full[: full.index(stop)]
    assert r.choices[0].finish_reason == "stop"


def test_list_of_prompts_and_n_choices(client) -> None:
    r = client.completions.create(model="tiny-gpt", prompt=["a", "b c"], max_tokens=4, n=2, temperature=0.9,
                                  seed=7)
    assert sorted(c.index for c in r.choices) == [0, 1, 2, 3]
    assert r.usage.completion_tokens == 16


def test_seeded_sampling_is_reproducible(client) -> None:
    kwargs = dict(model="tiny-gpt", prompt="Hello", max_tokens=10, temperature=1.0, top_p=0.9, seed=3)
    assert client.completions.create(**kwargs).choices[0].text == client.completions.create(**kwargs).choices[0].text


def test_chat_completion_uses_the_plain_template(client, tiny_gpt) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]
    r = client.chat.completions.create(model="tiny-gpt", messages=messages, max_tokens=8, temperature=0)
    prompt = "Be brief.\n\nUser: Hi there\nAssistant:"
    expected = generate_text(prompt, model=bm.load(tiny_gpt), tokenizer=load_tokenizer(tiny_gpt),
                             max_new_tokens=8, temperature=0, stop="\nUser:")
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == expected
    assert r.usage.prompt_tokens == len(load_tokenizer(tiny_gpt).encode(prompt))
    stream = client.chat.completions.create(model="tiny-gpt", messages=messages, max_tokens=8, temperature=0,
                                            stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == expected


def test_embeddings_equal_bm_embed_as_float_and_base64(client) -> None:
    texts = ["A cat sits on the mat.", "Stock prices fell."]
    expected = bm.embed(texts, model="all-minilm-l6-v2")
    r = client.embeddings.create(model="all-minilm-l6-v2", input=texts, encoding_format="float")
    got = torch.tensor([d.embedding for d in r.data])
    assert torch.allclose(got, expected, atol=1e-6)
    raw = httpx.post(client.base_url.__str__().rstrip("/") + "/embeddings",
                     json={"model": "all-minilm-l6-v2", "input": texts[0], "encoding_format": "base64"}).json()
    packed = base64.b64decode(raw["data"][0]["embedding"])
    vector = torch.tensor(struct.unpack(f"<{len(packed) // 4}f", packed))
    assert torch.equal(vector, bm.embed(texts[0], model="all-minilm-l6-v2"))  # base64 is lossless
    default = client.embeddings.create(model="all-minilm-l6-v2", input=texts[1])  # the client's own choice
    # One text against one text: bm.embed's default bf16 products depend on the batch's shape.
    alone = bm.embed(texts[1], model="all-minilm-l6-v2")
    assert torch.allclose(torch.tensor(default.data[0].embedding), alone, atol=1e-6)


def test_concurrent_requests_get_their_unbatched_answers(server, tiny_gpt) -> None:
    model, tok = bm.load(tiny_gpt), load_tokenizer(tiny_gpt)
    prompts = ["Hello world, this is", "The quick brown fox", "a", "Once upon a time there was"]
    results: dict[int, str] = {}

    def ask(i: int) -> None:
        body = {"model": "tiny-gpt", "prompt": prompts[i], "max_tokens": 30, "temperature": 0}
        results[i] = httpx.post(server.url + "/v1/completions", json=body, timeout=60).json()["choices"][0]["text"]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, p in enumerate(prompts):
        ids = tok.encode(p)
        expected = tok.decode(generate(model, torch.tensor([ids]), max_new_tokens=30, do_sample=False)[0, len(ids):])
        assert results[i] == expected


def test_a_client_that_disconnects_mid_stream_frees_its_slot(server) -> None:
    engine = engine_of(server)
    body = {"model": "tiny-gpt", "prompt": "a", "max_tokens": 120, "temperature": 0, "stream": True}
    before = engine.tokens_generated
    with httpx.stream("POST", server.url + "/v1/completions", json=body, timeout=30) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                break  # one event, then hang up
    deadline = time.monotonic() + 10
    while engine.running + engine.queue_depth and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.running == 0 and engine.queue_depth == 0
    assert engine.tokens_generated - before < 120


def test_full_queue_answers_503_with_retry_after(server) -> None:
    engine = engine_of(server)
    engine.pause()  # hold the decode loop so that queued requests stay queued
    try:
        hold = {"model": "tiny-gpt", "prompt": "a", "max_tokens": 2, "n": 8}
        answers = []
        waiting = threading.Thread(target=lambda: answers.append(
            httpx.post(server.url + "/v1/completions", json=hold, timeout=30)))
        waiting.start()
        while engine.queue_depth < 8 and waiting.is_alive():
            time.sleep(0.01)
        r = httpx.post(server.url + "/v1/completions", json={"model": "tiny-gpt", "prompt": "b", "max_tokens": 2})
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
        assert r.json()["error"]["type"] == "server_overloaded"
        assert "limit 8" in r.json()["error"]["message"]
    finally:
        engine.resume()
        waiting.join()
    assert answers[0].status_code == 200 and len(answers[0].json()["choices"]) == 8
    ok = httpx.post(server.url + "/v1/completions", json={"model": "tiny-gpt", "prompt": "b", "max_tokens": 2})
    assert ok.status_code == 200


def test_fill_mask_and_attention_endpoints(server, tiny_bert) -> None:
    r = httpx.post(server.url + "/v1/fill-mask", json={"text": "the cat sat on the [MASK] .", "top_k": 3})
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    assert len(predictions) == 3 and predictions[0]["score"] >= predictions[1]["score"]
    assert r.json()["model"] == "tiny-bert"
    r = httpx.post(server.url + "/v1/attention", json={"model": "tiny-gpt", "text": "Hello world"})
    data = r.json()
    n = len(data["tokens"])
    weights = torch.tensor(data["weights"]["self"])  # (layers, heads, T, T)
    assert weights.shape == (2, 4, n, n)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 4, n), atol=1e-3)


def test_classify_endpoint_equals_the_task_function(server, tiny_classifier) -> None:
    from bigmodel.tasks.text_classification import classify

    r = httpx.post(server.url + "/v1/classify", json={"text": "the cat sat on the mat ."})
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "tiny-sentiment"
    expected = classify("the cat sat on the mat .", str(tiny_classifier))
    assert r.json()["result"]["label"] == expected["label"]
    assert r.json()["result"]["score"] == pytest.approx(expected["score"], abs=1e-6)


def test_metrics_report_requests_tokens_and_queue(server, client) -> None:
    client.completions.create(model="tiny-gpt", prompt="a", max_tokens=2)
    text = httpx.get(server.url + "/metrics").text
    assert 'bigmodel_requests_total{path="/v1/completions",status="200"}' in text
    assert 'bigmodel_generated_tokens_total{model="tiny-gpt"}' in text
    assert 'bigmodel_queue_depth{model="tiny-gpt"} 0' in text
    assert "bigmodel_request_duration_seconds_bucket" in text
    assert "bigmodel_generation_tokens_per_second" in text


def test_health_and_playground_are_served_locally(server) -> None:
    assert httpx.get(server.url + "/health").json()["status"] == "ok"
    page = httpx.get(server.url + "/").text
    assert "/static/app.js" in page and "http://" not in page and "https://" not in page
    assert httpx.get(server.url + "/static/app.js").status_code == 200
