"""Request bodies of the HTTP API, checked field by field.

The OpenAI-compatible requests take OpenAI's names and ranges, so existing clients work
unchanged; fields a client may send that change nothing here (``user``, ``logit_bias`` ...)
are accepted and ignored. Every violation becomes one message naming the field (see
:func:`first_error`), answered as OpenAI's error JSON with status 400.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from ..decoding.options import OPTION_NAMES
from ..validation import SEED_MAX, SEED_MIN

MAX_N = 8  # choices per request
MAX_STOP = 4  # stop strings per request, as OpenAI
MAX_INPUTS = 2048  # texts per embeddings request, as OpenAI
MAX_LOGPROBS = 5  # completions' logprobs, as OpenAI
MAX_TOP_LOGPROBS = 20  # chat's top_logprobs, as OpenAI

NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class _Request(BaseModel):
    # strict: "5" is not a number and "yes" is not true (pydantic's lax mode would coerce them).
    model_config = ConfigDict(extra="ignore", protected_namespaces=(), strict=True)


class StreamOptions(BaseModel):
    include_usage: bool = False


class _Sampling(_Request):
    model: NonEmpty
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, ge=0.0, le=1.0)
    top_k: int = Field(default=0, ge=0)  # not OpenAI's; 0 = off
    repetition_penalty: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)  # not OpenAI's
    n: int = Field(default=1, ge=1, le=MAX_N)
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, ge=SEED_MIN, le=SEED_MAX)  # what torch's generator takes
    stream: bool = False
    stream_options: StreamOptions | None = None
    presence_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    user: str | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else (value or [])
        if len(stops) > MAX_STOP:
            raise ValueError(f"at most {MAX_STOP} stop sequences")
        if any(s == "" for s in stops):
            raise ValueError("stop sequences must not be empty")
        return value

    @field_validator("presence_penalty", "frequency_penalty")
    @classmethod
    def _unsupported_penalty(cls, value: float) -> float:
        if value != 0.0:
            raise ValueError("is not supported by this server; use repetition_penalty")
        return value

    def stop_list(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


# The request fields that are decoding options by the same name (temperature, top_p, top_k,
# repetition_penalty); seed is not among them: choice i of n samples with seed + i.
DECODING_FIELDS = tuple(name for name in _Sampling.model_fields if name in OPTION_NAMES and name != "seed")


class CompletionRequest(_Sampling):
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int | None = Field(default=None, ge=0)  # 0 with echo: score the prompt only
    echo: bool = False
    logprobs: int | None = Field(default=None, ge=0, le=MAX_LOGPROBS)
    suffix: str | None = None
    best_of: int | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("must hold at least one prompt")
        return value

    @field_validator("suffix")
    @classmethod
    def _unsupported(cls, value: Any) -> Any:
        if value is not None:
            raise ValueError("is not supported by this server")
        return value

    @field_validator("best_of")
    @classmethod
    def _best_of(cls, value: int | None) -> int | None:
        if value not in (None, 1):
            raise ValueError("is not supported by this server (only 1)")
        return value

    def prompts(self) -> list[str | list[int]]:
        """The prompts as texts or token id lists."""
        p = self.prompt
        if isinstance(p, str):
            return [p]
        if all(isinstance(x, int) for x in p):
            return [list(p)]  # type: ignore[arg-type]
        return list(p)  # type: ignore[arg-type]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    # Named so that a request using them gets a 400 instead of an answer that ignored them.
    tools: list[Any] | None = None
    tool_choice: Any = None
    functions: list[Any] | None = None
    function_call: Any = None
    response_format: dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None

    @field_validator("tools", "functions")
    @classmethod
    def _no_tools(cls, value: list[Any] | None) -> list[Any] | None:
        if value:
            raise ValueError("tool and function calling is not supported by this server")
        return value

    @field_validator("tool_choice", "function_call")
    @classmethod
    def _no_tool_choice(cls, value: Any) -> Any:
        if value not in (None, "none", "auto"):
            raise ValueError("tool and function calling is not supported by this server")
        return value

    @field_validator("response_format")
    @classmethod
    def _text_only(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and value.get("type") != "text":
            raise ValueError(f"only {{'type': 'text'}} is supported by this server, got {value.get('type')!r}")
        return value

    def token_limit(self) -> tuple[int | None, str]:
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens, "max_completion_tokens"
        return self.max_tokens, "max_tokens"


class EmbeddingRequest(_Request):
    model: NonEmpty
    input: str | list[str] | list[int] | list[list[int]]  # token ids: the model's own tokenizer's
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None

    @field_validator("input")
    @classmethod
    def _inputs(cls, value: Any) -> Any:
        items = [value] if isinstance(value, str) or (value and isinstance(value[0], int)) else value
        if not items:
            raise ValueError("must hold at least one text")
        if len(items) > MAX_INPUTS:
            raise ValueError(f"at most {MAX_INPUTS} texts per request")
        if any(not t for t in items):
            raise ValueError("texts must not be empty")
        return value

    def inputs(self) -> list[str | list[int]]:
        """The inputs as texts or token id lists."""
        value = self.input
        if isinstance(value, str):
            return [value]
        if all(isinstance(x, int) for x in value):
            return [list(value)]  # type: ignore[arg-type]
        return list(value)  # type: ignore[arg-type]


class FillMaskRequest(_Request):
    model: str | None = None
    text: NonEmpty
    top_k: int = Field(default=5, ge=1, le=100)


class ClassifyRequest(_Request):
    model: str | None = None
    text: NonEmpty | list[NonEmpty]
    top_k: int | None = Field(default=None, ge=1)
    long_texts: Literal["truncate", "windows"] | None = None

    @field_validator("text")
    @classmethod
    def _texts(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not value:
            raise ValueError("must hold at least one text")
        if isinstance(value, list) and len(value) > MAX_INPUTS:
            raise ValueError(f"at most {MAX_INPUTS} texts per request")
        return value


class AttentionRequest(_Request):
    model: str | None = None
    text: NonEmpty
    layers: list[int] | None = None
    heads: list[int] | None = None
    max_tokens: int = Field(default=64, ge=1, le=256)


def first_error(error: ValidationError) -> tuple[str, str]:
    """(field path, message) of the first problem, e.g. ("messages.0.role", "...")."""
    item = error.errors(include_url=False)[0]
    location = [str(part) for part in item.get("loc", ())]
    # A union reports the branch it tried ("prompt.list[str].0"); the user named only the field.
    location = [part for part in location
                if "[" not in part and "(" not in part and part not in ("str", "int", "float", "bool")]
    field = ".".join(location) or "body"
    message = item.get("msg", "is invalid")
    if item.get("type") == "missing":
        message = "is required"
    elif message.startswith("Value error, "):
        message = message[len("Value error, "):]
    elif item.get("type") == "extra_forbidden":
        message = "is not a known field"
    return field, message
