"""POST /v1/completions and POST /v1/chat/completions, in OpenAI's shapes; SSE with ``stream``.

Both go through the model's engine (generation_jobs.py). ``logprobs`` (completions: 0..5, with
``echo`` over the prompt too; ``max_tokens: 0`` with ``echo`` scores the prompt only, as
evaluation harnesses ask) and chat's ``logprobs`` / ``top_logprobs`` come from the model's raw
logits (logprobs.py); not with ``stream``. Token-id prompts are the model's own tokenizer's.

Chat without a template in the model folder uses the plain one of tasks/chat.py
(stop: "\\nUser:")::

    {system text}\\n\\n              (only when there is a system/developer message)
    User: {text}\\n                  one line per user message
    Assistant: {text}\\n             one line per earlier assistant message
    Assistant:                      the model continues from here
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..decoding.runners import is_encoder_decoder
from ..tasks.chat import TemplateFailed, TemplateRefused, render_conversation
from .access_log import note_usage
from .api_error import APIError
from .batching import Delta, Event
from .generation_jobs import GenerationJob, collect, job_events, start_job
from .logprobs import TokenNames, chat_choice, completion_choice, echo_text
from .reply_start import ReplyStart
from .request_body import read_json
from .schemas import ChatCompletionRequest, CompletionRequest
from .served_models import GENERATE, ServedModel, registry_of

__all__ = ["check_chat_logprobs", "check_scoring", "encode_prompt", "render_chat", "router"]

router = APIRouter()
DEFAULT_MAX_TOKENS = 16  # OpenAI's, for completions
STREAM_FAILED = {"error": {"message": "generation failed", "type": "server_error"}}


def encode_prompt(served: ServedModel, prompt: str | list[int], add_special_tokens: bool = False) -> list[int]:
    tok = served.tokenizer
    if isinstance(prompt, list):
        vocab = served.model.config.vocab_size
        if any(not isinstance(t, int) or not 0 <= t < vocab for t in prompt):
            raise APIError(400, f"prompt: token ids must lie in 0..{vocab - 1}", "prompt")
        ids = list(prompt)
    else:
        ids = tok.encode(prompt, add_special_tokens=add_special_tokens) if prompt else []
    if not ids:
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        if start is None:
            raise APIError(400, "prompt: is empty and the tokenizer has no BOS token to start from", "prompt")
        ids = [start]  # as tasks.generation: an empty prompt starts from BOS
    return ids


def render_chat(served: ServedModel, messages: list[Any]) -> tuple[list[int], list[str]]:
    """Prompt ids for ``messages`` and the stop strings the template implies (tasks/chat.py)."""
    plain = [{"role": m.role, "content": m.text()} for m in messages]
    try:
        text, stops = render_conversation(plain, served.tokenizer, served.chat_template)
    except TemplateRefused as exc:
        raise APIError(400, f"messages: {exc}", "messages") from None
    except TemplateFailed as exc:
        raise APIError(500, str(exc), type="server_error") from None
    return encode_prompt(served, text), stops


def check_scoring(served: ServedModel, req: Any, prompts: list[list[int]]) -> None:
    """400s for a completions request whose echo / logprobs / max_tokens=0 cannot be answered."""
    if req.stream and req.logprobs is not None:
        raise APIError(400, "logprobs: is not supported with stream: true; ask without streaming", "logprobs")
    if req.max_tokens == 0 and not req.echo:
        raise APIError(400, "max_tokens: must be >= 1 (0 only with echo: true, to score the prompt)",
                       "max_tokens")
    if req.stream and req.max_tokens == 0:
        raise APIError(400, "max_tokens: 0 (score the prompt only) needs stream: false", "max_tokens")
    if (req.echo or req.logprobs is not None) and is_encoder_decoder(served.model):
        field_name = "logprobs" if req.logprobs is not None else "echo"
        raise APIError(400, f"{field_name}: needs a decoder-only model; {served.id} is an encoder-decoder",
                       field_name)
    context = int(served.model.config.max_seq_len)
    if req.max_tokens == 0 and any(len(ids) > context for ids in prompts):
        longest = max(len(ids) for ids in prompts)
        raise APIError(400, f"prompt: {longest} tokens exceed the model's context of {context} tokens", "prompt")


def check_chat_logprobs(served: ServedModel, req: Any) -> None:
    if req.top_logprobs and not req.logprobs:
        raise APIError(400, "top_logprobs: needs logprobs: true", "top_logprobs")
    if req.logprobs and req.stream:
        raise APIError(400, "logprobs: is not supported with stream: true; ask without streaming", "logprobs")
    if req.logprobs and is_encoder_decoder(served.model):
        raise APIError(400, f"logprobs: needs a decoder-only model; {served.id} is an encoder-decoder",
                       "logprobs")


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _sse(data: Any) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()


def _event_stream(chunks: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(chunks, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def _sse_events(request: Request, job: GenerationJob, first: Iterable[dict[str, Any]],
                      chunk: Callable[[Event], dict[str, Any] | None],
                      usage_chunk: dict[str, Any] | None) -> AsyncIterator[bytes]:
    """``first``, then a chunk per engine event (None: nothing to send), the usage chunk when
    asked for, and ``[DONE]``; an engine failure ends the stream with an error object."""
    for data in first:
        yield _sse(data)
    completion = 0
    async for ev in job_events(job):
        if not isinstance(ev, Delta):
            if ev.finish_reason == "error":
                yield _sse(STREAM_FAILED)
                return
            completion += ev.completion_tokens
        data = chunk(ev)
        if data is not None:
            yield _sse(data)
    usage = _usage(job.prompt_tokens, completion)
    note_usage(request, usage)
    if usage_chunk is not None:
        yield _sse({**usage_chunk, "usage": usage})
    yield _sse("[DONE]")


def _wants_usage(req: Any) -> bool:
    return bool(req.stream_options and req.stream_options.include_usage)


# -- /v1/completions ---------------------------------------------------------------------------

class _CompletionReply:
    """One completions request's answer: its id, choices and envelope."""

    def __init__(self, served: ServedModel, req: CompletionRequest, raw_prompts: list[Any],
                 prompts: list[list[int]], job: GenerationJob | None) -> None:
        self.served, self.req, self.raw_prompts, self.prompts, self.job = served, req, raw_prompts, prompts, job
        self.rid, self.created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
        self.n_choices = len(job.slots) if job is not None else len(prompts) * req.n

    @staticmethod
    def choice(index: int, text: str, reason: str | None, logprobs: Any = None) -> dict[str, Any]:
        return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": reason}

    def envelope(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": self.rid, "object": "text_completion", "created": self.created, "model": self.served.id,
                "choices": choices}

    def chunk(self, ev: Event) -> dict[str, Any]:
        if isinstance(ev, Delta):
            return self.envelope([self.choice(ev.index, ev.text, None)])
        return self.envelope([self.choice(ev.index, "", ev.finish_reason)])

    def stream(self, request: Request) -> AsyncIterator[bytes]:
        req, n = self.req, self.req.n
        echoed = (self.envelope([self.choice(i, echo_text(self.served.tokenizer, self.raw_prompts[i // n],
                                                          self.prompts[i // n]), None)])
                  for i in (range(self.n_choices) if req.echo else ()))  # made as the stream starts
        assert self.job is not None  # check_scoring: no max_tokens 0 with stream
        return _sse_events(request, self.job, echoed, self.chunk,
                           self.envelope([]) if _wants_usage(req) else None)

    async def _scored(self, texts: list[str], generated: list[list[int]]) -> tuple[list[str], list[Any]]:
        """Texts (with the prompt when echoed) and each choice's logprobs object."""
        req, m, n = self.req, self.served, self.req.n
        if not (req.echo or req.logprobs is not None):
            return texts, [None] * self.n_choices

        def score() -> list[tuple[str, Any]]:
            names = TokenNames(m.tokenizer)
            return [completion_choice(m.model, m.tokenizer, self.raw_prompts[i // n], self.prompts[i // n],
                                      texts[i], generated[i], logprobs=req.logprobs, echo=req.echo,
                                      names=names) for i in range(self.n_choices)]

        scored, logprobs = (list(x) for x in zip(*await asyncio.to_thread(score), strict=True))
        return scored, logprobs

    async def whole(self, request: Request) -> dict[str, Any]:
        n_choices = self.n_choices
        generated: list[list[int]] = [[] for _ in range(n_choices)]
        if self.job is None:
            texts, reasons, completion = [""] * n_choices, ["length"] * n_choices, 0
        else:
            texts, reasons, completion = await collect(self.job, request, n_choices, generated)
        texts, logprobs = await self._scored(texts, generated)
        body = self.envelope([self.choice(i, texts[i], reasons[i], logprobs[i]) for i in range(n_choices)])
        body["usage"] = _usage(sum(len(p) for p in self.prompts), completion)
        note_usage(request, body["usage"])
        return body


@router.post("/v1/completions")
async def completions(request: Request) -> Response:
    req: CompletionRequest = await read_json(request, CompletionRequest)
    m = registry_of(request).get(req.model, GENERATE)
    raw_prompts = req.prompts()
    prompts = [encode_prompt(m, p) for p in raw_prompts]
    check_scoring(m, req, prompts)
    max_tokens = req.max_tokens if req.max_tokens is not None else DEFAULT_MAX_TOKENS
    job = None if req.max_tokens == 0 else start_job(m, prompts, req, max_tokens, "max_tokens", req.stop_list(),
                                                     lambda n: DEFAULT_MAX_TOKENS)
    reply = _CompletionReply(m, req, raw_prompts, prompts, job)
    if req.stream:
        return _event_stream(reply.stream(request))
    return JSONResponse(await reply.whole(request))


# -- /v1/chat/completions ----------------------------------------------------------------------

class _ChatReply:
    """One chat request's answer: its id, choices and envelope."""

    def __init__(self, served: ServedModel, req: ChatCompletionRequest, prompt_ids: list[int],
                 job: GenerationJob) -> None:
        self.served, self.req, self.prompt_ids, self.job = served, req, prompt_ids, job
        self.rid, self.created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        self.n_choices = len(job.slots)
        self.reply_start = ReplyStart()

    def envelope(self, choices: list[dict[str, Any]], chunk: bool) -> dict[str, Any]:
        kind = "chat.completion.chunk" if chunk else "chat.completion"
        return {"id": self.rid, "object": kind, "created": self.created, "model": self.served.id,
                "choices": choices}

    def chunk(self, ev: Event) -> dict[str, Any] | None:
        if not isinstance(ev, Delta):
            return self.envelope([{"index": ev.index, "delta": {}, "finish_reason": ev.finish_reason}], True)
        text = self.reply_start(ev.index, ev.text)
        if not text:
            return None
        return self.envelope([{"index": ev.index, "delta": {"content": text}, "finish_reason": None}], True)

    def stream(self, request: Request) -> AsyncIterator[bytes]:
        first = [self.envelope([{"index": i, "delta": {"role": "assistant", "content": ""},
                                 "finish_reason": None}], True) for i in range(self.n_choices)]
        return _sse_events(request, self.job, first, self.chunk,
                           self.envelope([], True) if _wants_usage(self.req) else None)

    async def _logprobs(self, texts: list[str], generated: list[list[int]]) -> list[Any]:
        m, req = self.served, self.req
        if not req.logprobs:
            return [None] * self.n_choices

        def score() -> list[dict[str, Any]]:
            names = TokenNames(m.tokenizer)
            return [chat_choice(m.model, m.tokenizer, self.prompt_ids, texts[i], generated[i],
                                req.top_logprobs or 0, names) for i in range(self.n_choices)]

        return await asyncio.to_thread(score)

    async def whole(self, request: Request) -> dict[str, Any]:
        n_choices = self.n_choices
        generated: list[list[int]] = [[] for _ in range(n_choices)]
        texts, reasons, completion = await collect(self.job, request, n_choices, generated)
        logprobs = await self._logprobs(texts, generated)
        choices = [{"index": i, "message": {"role": "assistant", "content": self.reply_start(i, texts[i])},
                    "logprobs": logprobs[i], "finish_reason": reasons[i]} for i in range(n_choices)]
        body = self.envelope(choices, False)
        body["usage"] = _usage(self.job.prompt_tokens, completion)
        note_usage(request, body["usage"])
        return body


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    req: ChatCompletionRequest = await read_json(request, ChatCompletionRequest)
    m = registry_of(request).get(req.model, GENERATE)
    if is_encoder_decoder(m.model):  # a conversation is a prompt to continue: causal LMs only
        raise APIError(400, f"model: {m.id} is an encoder-decoder; chat needs a decoder-only GPT "
                            "(send the source text to /v1/completions)", "model")
    check_chat_logprobs(m, req)
    ids, template_stops = render_chat(m, req.messages)
    max_tokens, field_name = req.token_limit()
    context = m.engine.context if m.engine else 0
    job = start_job(m, [ids], req, max_tokens, field_name, req.stop_list() + template_stops,
                    lambda n: max(1, min(512, context - n)))
    reply = _ChatReply(m, req, ids, job)
    if req.stream:
        return _event_stream(reply.stream(request))
    return JSONResponse(await reply.whole(request))
