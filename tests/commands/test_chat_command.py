"""`bigmodel chat` on piped stdin: one streamed reply per line, the conversation kept, /reset, /exit."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import bigmodel.tasks.generation as generation
from bigmodel.cli import main
from bigmodel.tasks.chat import Conversation, render_conversation
from bigmodel.tokenization import load_tokenizer


def run_chat(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stdin: str,
             *flags: str) -> tuple[int, str, str, list[str]]:
    prompts: list[str] = []
    real_stream = generation.stream

    def spy(prompt: str, *args: object, **kwargs: object) -> object:
        prompts.append(prompt)
        return real_stream(prompt, *args, **kwargs)

    monkeypatch.setattr(generation, "stream", spy)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["chat", "-m", "tiny-gpt-en", "--greedy", "-n", "6", *flags])
    out, err = capsys.readouterr()
    return code, out, err, prompts


def test_the_conversation_is_kept_and_reset(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err, prompts = run_chat(monkeypatch, capsys, "hello\nhow are you?\n/reset\nwho are you?\n/exit\nlost\n",
                                       "--system", "Be kind.")
    assert code == 0 and len(prompts) == 3  # /exit stops before "lost"
    assert prompts[0] == "Be kind.\n\nUser: hello\nAssistant:"
    assert prompts[1].startswith("Be kind.\n\nUser: hello\nAssistant: ") and prompts[1].endswith(
        "User: how are you?\nAssistant:")
    assert prompts[2] == "Be kind.\n\nUser: who are you?\nAssistant:"
    assert "(a new conversation)" in err
    assert out.strip() and not out.startswith(" ")


def test_end_of_input_ends_the_chat(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _, prompts = run_chat(monkeypatch, capsys, "one line, no newline at the end")
    assert code == 0 and len(prompts) == 1 and out.endswith("\n")


def test_a_chat_template_is_used_when_the_model_has_one() -> None:
    tok = load_tokenizer("tiny-gpt-en")
    template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<assistant>"
    text, stops = render_conversation([{"role": "user", "content": "hi"}], tok, template)
    assert (text, stops) == ("<user>hi<assistant>", [])


def test_old_turns_are_dropped_to_fit_the_context() -> None:
    tok = load_tokenizer("tiny-gpt-en")
    talk = Conversation(tok, None, context=40)
    for i in range(6):
        talk.add("user", f"message number {i} is here")
        talk.add("assistant", "fine")
    talk.add("user", "last")
    text, _ = talk.prompt(room=10)
    assert text.endswith("User: last\nAssistant:") and "number 0" not in text
    assert len(tok.encode(text, add_special_tokens=False)) + 10 <= 40


def test_chat_is_one_line_naming_the_model(tiny_seq2seq: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Monday, March 23, 1987\n"))
    assert main(["chat", "--model", str(tiny_seq2seq), "-n", "4"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (f"error: --model {tiny_seq2seq}: chat needs a decoder-only GPT; "
                            "this is an encoder-decoder\n")
    assert captured.out == ""
