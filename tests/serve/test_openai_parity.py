"""What evaluation harnesses and the official ``openai`` client need: logprobs, echo, token-id
prompts, clear 400s for what is not supported, replies without a leading space, access logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import requests
import torch

import bigmodel as bm
from bigmodel.serve.reply_start import ReplyStart
from bigmodel.tokenization import load_tokenizer

PROMPT = "the capital of france is"


@pytest.fixture(scope="module")
def parity_server(tiny_gpt: Path, tiny_bert: Path) -> Iterator[object]:
    from bigmodel.serve import BackgroundServer, create_app

    app = create_app([str(tiny_gpt)], embedding_models=[str(tiny_bert)], max_batch_size=4, max_concurrency=8)
    with BackgroundServer(app) as running:
        yield running


@pytest.fixture(scope="module")
def client(parity_server: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=parity_server.url + "/v1", api_key="-", max_retries=0)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def lm(tiny_gpt: Path) -> tuple[object, object]:
    return bm.load(tiny_gpt).eval(), load_tokenizer(tiny_gpt)


def log_softmax(model: object, ids: list[int]) -> torch.Tensor:
    """(T, V) float32: row t is the distribution of token t + 1."""
    with torch.inference_mode():
        return torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)  # type: ignore[operator]


def greedy(model: object, ids: list[int], n: int) -> list[int]:
    out = list(ids)
    for _ in range(n):
        out.append(int(log_softmax(model, out)[-1].argmax()))
    return out[len(ids):]


def test_completion_logprobs_are_the_models_log_softmax(client: openai.OpenAI, lm: tuple, tiny_gpt: Path) -> None:
    model, tok = lm
    prompt_ids = tok.encode(PROMPT, add_special_tokens=False)
    new = greedy(model, prompt_ids, 4)
    out = client.completions.create(model=tiny_gpt.name, prompt=PROMPT, max_tokens=4, temperature=0,
                                    logprobs=3)
    choice = out.choices[0]
    assert choice.text == tok.decode(new)
    lp = choice.logprobs
    assert lp.tokens == [tok.decode([t]) for t in new]
    expected = log_softmax(model, prompt_ids + new)[len(prompt_ids) - 1: -1]  # (4, V)
    for i, t in enumerate(new):
        assert abs(lp.token_logprobs[i] - float(expected[i, t])) <= 1e-4
        values, indices = expected[i].topk(3)
        top = lp.top_logprobs[i]
        for v, j in zip(values.tolist(), indices.tolist(), strict=True):
            assert abs(top[tok.decode([j])] - v) <= 1e-4
        assert len(top) <= 4  # the top 3 and the chosen token
    assert lp.text_offset == [len(tok.decode(new[:i])) for i in range(len(new))]


def test_echo_with_no_new_tokens_scores_the_prompt(client: openai.OpenAI, lm: tuple, tiny_gpt: Path) -> None:
    """lm-evaluation-harness's loglikelihood request: token ids, echo, logprobs=1, max_tokens=0."""
    model, tok = lm
    ids = tok.encode(PROMPT + " paris", add_special_tokens=False)
    out = client.completions.create(model=tiny_gpt.name, prompt=[ids], max_tokens=0, echo=True, logprobs=1,
                                    temperature=0)
    choice = out.choices[0]
    assert choice.text == tok.decode(ids)
    lp = choice.logprobs
    assert len(lp.tokens) == len(ids) and lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    expected = log_softmax(model, ids)
    for t in range(1, len(ids)):
        assert abs(lp.token_logprobs[t] - float(expected[t - 1, ids[t]])) <= 1e-4
        # is_greedy as the harness computes it: the chosen logprob equals the best one
        assert (lp.token_logprobs[t] == max(lp.top_logprobs[t].values())) == (int(expected[t - 1].argmax()) == ids[t])
    assert out.usage.prompt_tokens == len(ids) and out.usage.completion_tokens == 0
    # The newer harness asks for one token and drops it with [ctxlen:-1]: one more entry.
    one = client.completions.create(model=tiny_gpt.name, prompt=[ids], max_tokens=1, echo=True, logprobs=1,
                                    temperature=0).choices[0].logprobs
    assert len(one.tokens) == len(ids) + 1
    assert one.token_logprobs[0] is None
    assert one.token_logprobs[1: len(ids)] == pytest.approx(lp.token_logprobs[1:], abs=1e-5)


def test_token_id_prompt_gives_the_same_text(client: openai.OpenAI, lm: tuple, tiny_gpt: Path) -> None:
    _, tok = lm
    by_text = client.completions.create(model=tiny_gpt.name, prompt=PROMPT, max_tokens=6, temperature=0)
    ids = tok.encode(PROMPT, add_special_tokens=False)
    by_ids = client.completions.create(model=tiny_gpt.name, prompt=ids, max_tokens=6, temperature=0)
    both = client.completions.create(model=tiny_gpt.name, prompt=[ids, ids], max_tokens=6, temperature=0)
    assert by_ids.choices[0].text == by_text.choices[0].text
    assert [c.text for c in both.choices] == [by_text.choices[0].text] * 2


def test_echo_prepends_the_prompt(client: openai.OpenAI, tiny_gpt: Path) -> None:
    plain = client.completions.create(model=tiny_gpt.name, prompt=PROMPT, max_tokens=3, temperature=0)
    echoed = client.completions.create(model=tiny_gpt.name, prompt=PROMPT, max_tokens=3, temperature=0, echo=True)
    assert echoed.choices[0].text == PROMPT + plain.choices[0].text
    streamed = client.completions.create(model=tiny_gpt.name, prompt=PROMPT, max_tokens=3, temperature=0,
                                         echo=True, stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == echoed.choices[0].text


def test_chat_logprobs_in_the_chat_shape(client: openai.OpenAI, lm: tuple, tiny_gpt: Path) -> None:
    from bigmodel.serve.completion_routes import render_chat
    from bigmodel.serve.schemas import ChatMessage
    from bigmodel.serve.served_models import ServedModel

    model, tok = lm
    messages = [{"role": "user", "content": "hi"}]
    out = client.chat.completions.create(model=tiny_gpt.name, messages=messages, max_tokens=4, temperature=0,
                                         logprobs=True, top_logprobs=2)
    content = out.choices[0].logprobs.content
    served = ServedModel("m", str(tiny_gpt), model, tok, ["generate"])
    prompt_ids, _ = render_chat(served, [ChatMessage(role="user", content="hi")])
    new = greedy(model, prompt_ids, len(content))
    expected = log_softmax(model, prompt_ids + new)[len(prompt_ids) - 1: -1]
    for i, entry in enumerate(content):
        assert entry.token == tok.decode([new[i]])
        assert entry.bytes == list(entry.token.encode("utf-8"))
        assert abs(entry.logprob - float(expected[i, new[i]])) <= 1e-4
        assert len(entry.top_logprobs) == 2
        assert abs(entry.top_logprobs[0].logprob - float(expected[i].max())) <= 1e-4


def test_chat_reply_has_no_leading_space(client: openai.OpenAI, tiny_gpt: Path) -> None:
    out = client.chat.completions.create(model=tiny_gpt.name, messages=[{"role": "user", "content": "a cat"}],
                                         max_tokens=5, temperature=1.0, seed=3, n=4)
    for choice in out.choices:
        assert choice.message.content == choice.message.content.lstrip()
    strip = ReplyStart()
    assert [strip(0, " "), strip(0, " Hello"), strip(0, " world"), strip(1, "\nHi")] == ["", "Hello", " world", "Hi"]


@pytest.mark.parametrize("extra, field", [
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"functions": [{"name": "f"}]}, "functions"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"logprobs": True, "stream": True}, "logprobs"),
    ({"top_logprobs": 2}, "top_logprobs"),
])
def test_unsupported_chat_fields_are_a_clear_400(client: openai.OpenAI, tiny_gpt: Path, extra: dict,
                                                  field: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=tiny_gpt.name, messages=[{"role": "user", "content": "hi"}],
                                       max_tokens=2, **extra)
    assert caught.value.body["param"] == field and field in caught.value.body["message"]


def test_plain_text_response_format_is_accepted(client: openai.OpenAI, tiny_gpt: Path) -> None:
    out = client.chat.completions.create(model=tiny_gpt.name, messages=[{"role": "user", "content": "hi"}],
                                         max_tokens=2, response_format={"type": "text"})
    assert out.choices[0].finish_reason in ("stop", "length")


def test_completion_logprobs_range_and_streaming(parity_server: object, tiny_gpt: Path) -> None:
    url = parity_server.url + "/v1/completions"  # type: ignore[attr-defined]
    for body, field in [({"logprobs": 6}, "logprobs"), ({"logprobs": 1, "stream": True}, "logprobs"),
                        ({"max_tokens": 0, "stream": True, "echo": True}, "max_tokens"),
                        ({"max_tokens": 0}, "max_tokens")]:
        r = requests.post(url, json={"model": tiny_gpt.name, "prompt": "a", **body}, timeout=30)
        assert r.status_code == 400 and r.json()["error"]["param"] == field


def test_embeddings_of_token_ids_equal_those_of_the_text(client: openai.OpenAI, tiny_bert: Path) -> None:
    tok = load_tokenizer(tiny_bert)
    text = "a cat sat on the mat"
    ids = tok.encode(text, add_special_tokens=False)
    by_text = client.embeddings.create(model=tiny_bert.name, input=text).data[0].embedding
    by_ids = client.embeddings.create(model=tiny_bert.name, input=[ids]).data[0].embedding
    assert by_ids == pytest.approx(by_text, abs=1e-5)


def test_one_access_log_line_per_request(client: openai.OpenAI, tiny_gpt: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bigmodel.serve.access")
    client.completions.create(model=tiny_gpt.name, prompt=PROMPT, max_tokens=3, temperature=0)
    lines = [r.getMessage() for r in caplog.records if r.name == "bigmodel.serve.access"]
    assert len(lines) == 1
    method, path, status, ms, prompt_tokens, completion_tokens = lines[0].split()
    assert (method, path, status) == ("POST", "/v1/completions", "200") and ms.endswith("ms")
    assert prompt_tokens.startswith("prompt_tokens=") and completion_tokens == "completion_tokens=3"
