"""Chat prompts: the model's own Jinja template when its folder has one, else the plain one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import bigmodel as bm
from bigmodel.serve.api_error import APIError
from bigmodel.serve.completion_routes import render_chat
from bigmodel.serve.schemas import ChatMessage
from bigmodel.serve.served_models import ServedModel
from bigmodel.tasks.chat import read_chat_template
from bigmodel.tokenization import load_tokenizer

TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>{% endif %}")
MESSAGES = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="Hi")]


def served(folder: Path, template: str | None) -> ServedModel:
    return ServedModel("m", str(folder), bm.load(folder), load_tokenizer(folder), ["generate"],
                       chat_template=template)


def test_template_from_tokenizer_config_is_rendered(tiny_gpt: Path, tmp_path: Path) -> None:
    folder = tmp_path / "chatty"
    shutil.copytree(tiny_gpt, folder)
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text()) if config_file.exists() else {}
    config_file.write_text(json.dumps({**config, "chat_template": TEMPLATE}))
    template = read_chat_template(str(folder))
    assert template == TEMPLATE
    ids, stops = render_chat(served(folder, template), MESSAGES)
    tok = load_tokenizer(folder)
    expected = "<|system|>Be brief.<|endoftext|><|user|>Hi<|endoftext|><|assistant|>"
    assert ids == tok.encode(expected, add_special_tokens=False)
    assert stops == []


def test_plain_template_without_one(tiny_gpt: Path) -> None:
    assert read_chat_template(str(tiny_gpt)) is None
    ids, stops = render_chat(served(tiny_gpt, None), MESSAGES)
    assert load_tokenizer(tiny_gpt).decode(ids) == "Be brief.\n\nUser: Hi\nAssistant:"
    assert stops == ["\nUser:"]


def test_a_template_that_raises_is_a_bad_request(tiny_gpt: Path) -> None:
    template = "{{ raise_exception('only user messages') }}"
    with pytest.raises(APIError, match="only user messages") as caught:
        render_chat(served(tiny_gpt, template), MESSAGES)
    assert caught.value.status == 400
