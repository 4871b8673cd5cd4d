"""A conversation as a prompt: the model's chat template when it ships one, else a plain one.

Used by ``bigmodel chat`` and the server's /v1/chat/completions. The template is the Jinja
``chat_template`` of the model folder (chat_template.jinja or tokenizer_config.json), rendered
in a sandbox with ``messages``, ``add_generation_prompt=True``, ``bos_token``, ``eos_token`` and
``raise_exception``. Without one, this plain format (the model stops at ``"\\nUser:"``)::

    {system text}\\n\\n              (only when there is a system/developer message)
    User: {text}\\n                  one line per user message
    Assistant: {text}\\n             one line per earlier assistant message
    Assistant:                      the model continues from here
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import BigModelError
from ..fileio import read_json_object

PLAIN_CHAT_STOP = "\nUser:"


class TemplateRefused(BigModelError):
    """The template's own ``raise_exception`` (e.g. "roles must alternate"): the caller's mistake."""


class TemplateFailed(BigModelError):
    """The template itself is broken, or jinja2 is missing: not the caller's mistake."""


def read_chat_template(source: str | Path) -> str | None:
    """The Jinja chat template shipped in the model folder (tokenizer_config.json), if any."""
    try:
        from ..hub import resolve_model_dir

        folder = resolve_model_dir(source)
    except BigModelError:
        return None
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    try:
        config = read_json_object(folder / "tokenizer_config.json", "tokenizer config")
    except BigModelError:  # no usable config: the plain User/Assistant layout
        return None
    template = config.get("chat_template")
    if isinstance(template, list):  # [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default") or next(iter(named.values()), None)
    return template if isinstance(template, str) else None


def render_conversation(messages: list[dict[str, str]], tokenizer: Any,
                        template: str | None) -> tuple[str, list[str]]:
    """The prompt text for ``messages`` ({"role", "content"}) and the stop strings it implies."""
    if template:
        return _render_template(messages, tokenizer, template), []
    lines = []
    system = "\n".join(m["content"] for m in messages if m["role"] in ("system", "developer"))
    if system:
        lines.append(system + "\n\n")
    for m in messages:
        if m["role"] == "user":
            lines.append(f"User: {m['content']}\n")
        elif m["role"] in ("assistant", "tool"):
            lines.append(f"Assistant: {m['content']}\n")
    lines.append("Assistant:")
    return "".join(lines), [PLAIN_CHAT_STOP]


def _render_template(messages: list[dict[str, str]], tokenizer: Any, template: str) -> str:
    try:
        from jinja2 import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:
        raise TemplateFailed("this model's chat template needs jinja2: pip install jinja2") from None

    def raise_exception(message: str) -> None:
        raise TemplateRefused(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception

    def token(i: int | None) -> str:
        return tokenizer.id_to_token(i) if i is not None else ""

    try:
        return env.from_string(template).render(messages=messages, add_generation_prompt=True,
                                                bos_token=token(tokenizer.bos_token_id),
                                                eos_token=token(tokenizer.eos_token_id))
    except TemplateError as exc:
        raise TemplateFailed(f"the model's chat template failed: {exc}") from None


class Conversation:
    """The turns so far; :meth:`prompt` renders them, dropping the oldest exchanges when the
    text would not leave ``room`` tokens in the model's context."""

    def __init__(self, tokenizer: Any, template: str | None, context: int, system: str | None = None) -> None:
        self.tokenizer = tokenizer
        self.template = template
        self.context = context
        self.system = system
        self.turns: list[dict[str, str]] = []

    def messages(self) -> list[dict[str, str]]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + self.turns

    def reset(self) -> None:
        self.turns = []

    def add(self, role: str, content: str) -> None:
        self.turns.append({"role": role, "content": content})

    def prompt(self, room: int) -> tuple[str, list[str]]:
        while True:
            text, stops = render_conversation(self.messages(), self.tokenizer, self.template)
            length = len(self.tokenizer.encode(text, add_special_tokens=False))
            if length + room <= self.context or len(self.turns) <= 1:
                break
            self.turns = self.turns[2:] if len(self.turns) > 2 else self.turns[1:]  # the oldest exchange
        if length + room > self.context:
            raise BigModelError(f"the message is {length} tokens; with {room} new tokens it does not fit the "
                                f"model's context of {self.context} (shorten it or lower --max-new-tokens)")
        return text, stops
