"""The HTTP service: OpenAI-compatible endpoints, task endpoints and the playground page.

    GET  /v1/models                 the served models (only these names are valid)
    POST /v1/completions            prompt(s) -> text; SSE with ``stream: true``
    POST /v1/chat/completions       messages -> reply (the model's chat template, if any)
    POST /v1/embeddings             text(s) -> vectors, float or base64 (little-endian f32)
    POST /v1/fill-mask              BERT's [MASK] filled, top-k
    POST /v1/classify               label scores of a text classifier
    POST /v1/attention              attention weights of a text, for the heatmap
    GET  /health, /metrics          liveness; Prometheus text
    GET  /                          the playground (static/index.html, no build step)

Generation requests go through one :class:`~bigmodel.serve.batching.BatchEngine` per
causal LM, so concurrent requests share forward passes (an encoder-decoder goes through
:class:`~bigmodel.serve.seq2seq.Seq2SeqEngine`, one request at a time); every other endpoint calls the same
task function as the CLI. Errors come back in OpenAI's shape,
``{"error": {"message", "type", "param", "code"}}``, with 400 for a bad request (the
message names the field), 413 for a body over the limit, 503 + Retry-After when the
generation queue is full.

Sampling follows OpenAI's meaning: temperature (0 = greedy), top_p, seed (choice i of n uses
seed + i), stop (cut from the text); no top-k unless the request sets ``top_k`` (an extension,
as is ``repetition_penalty``). A sampling field the request leaves out comes from the model's
generation_config.json when it has one (the shipped tiny GPTs do); ``temperature: 0`` is greedy.

``logprobs`` (completions: 0..5, with ``echo`` over the prompt too; ``max_tokens: 0`` with
``echo`` scores the prompt only, as evaluation harnesses ask) and chat's ``logprobs`` /
``top_logprobs`` come in OpenAI's shapes from the model's raw logits (logprobs.py); not with
``stream``. ``tools``, ``functions`` and a ``response_format`` other than text are a 400.
Token-id prompts (completions) and inputs (embeddings) are the model's own tokenizer's. Each
request is one line on the ``bigmodel.serve.access`` logger (access_log.py).

Chat without a template in the model folder uses this plain one (stop: "\\nUser:")::

    {system text}\\n\\n              (only when there is a system/developer message)
    User: {text}\\n                  one line per user message
    Assistant: {text}\\n             one line per earlier assistant message
    Assistant:                      the model continues from here
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import logging
import socket
import struct
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI, Request
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ..decoding.options import with_model_defaults
from ..decoding.runners import is_encoder_decoder
from ..errors import BigModelError, did_you_mean
from ..tasks.chat import TemplateFailed, TemplateRefused, read_chat_template, render_conversation
from .access_log import AccessLog, note_usage
from .batching import BatchEngine, Delta, Done, Event, QueueFull, SamplingParams
from .logprobs import TokenNames, chat_choice, completion_choice, echo_text
from .metrics import Metrics
from .reply_start import ReplyStart
from .schemas import (
    AttentionRequest,
    ChatCompletionRequest,
    ClassifyRequest,
    CompletionRequest,
    EmbeddingRequest,
    FillMaskRequest,
    first_error,
)
from .seq2seq import Seq2SeqEngine

logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
DEFAULT_MAX_BODY = 2 * 1024 * 1024
DRAIN_LIMIT = 64 * 1024 * 1024  # an oversized body is read (and dropped) up to here, then cut
PLAIN_CHAT_STOP = "\nUser:"

# What a served model can be asked for, by how it was loaded.
GENERATE, FILL_MASK, EMBED, CLASSIFY, ATTENTION = "generate", "fill-mask", "embed", "classify", "attention"


class APIError(Exception):
    """An answer in OpenAI's error shape."""

    def __init__(self, status: int, message: str, param: str | None = None, *,
                 type: str = "invalid_request_error", code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param
        self.type, self.code, self.headers = type, code, headers

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


@dataclass
class ServedModel:
    """A model the server was started with; ``id`` is the only name requests may use."""

    id: str
    source: str
    model: Any
    tokenizer: Any
    capabilities: list[str]
    engine: BatchEngine | None = None
    chat_template: str | None = None
    created: int = field(default_factory=lambda: int(time.time()))

    def card(self) -> dict[str, Any]:
        return {"id": self.id, "object": "model", "created": self.created, "owned_by": "bigmodel",
                "capabilities": self.capabilities, "family": getattr(self.model, "family", None),
                "context_length": getattr(self.model.config, "max_seq_len", None)}


def model_id(source: str) -> str:
    """The name clients use: a folder's own name, or the preset / HF id as given."""
    path = Path(source).expanduser()
    return path.name if path.is_dir() else source


def _capabilities(model: Any, role: str) -> list[str]:
    family = getattr(model, "family", None)
    if role == "embed":
        return [EMBED, ATTENTION]
    if role == "classify":
        return [CLASSIFY, ATTENTION]
    if family == "gpt" and hasattr(model, "lm_head") and callable(getattr(model, "new_kv_cache", None)):
        return [GENERATE, ATTENTION]
    if family == "transformer" and is_encoder_decoder(model):
        return [GENERATE]
    if family == "bert" and hasattr(model, "mlm_head"):
        return [FILL_MASK, ATTENTION]
    from .task_routes import task_capabilities

    span_tasks = task_capabilities(model)  # question answering, token classification
    if span_tasks:
        return span_tasks
    raise BigModelError(f"--model {getattr(model, 'name_or_path', '?')}: the server generates with a GPT or a "
                        "seq2seq Transformer and "
                        f"fills masks with a BERT masked LM; this is {type(model).__name__} "
                        "(use --embedding-model or --classifier for other roles)")


def _chat_template(source: str) -> str | None:
    """The Jinja chat template shipped in the model folder (tokenizer_config.json), if any."""
    return read_chat_template(source)


def load_served(source: str, role: str, *, max_batch_size: int, max_concurrency: int,
                dtype: str | None = None) -> ServedModel:
    from ..tasks.common import get_model, get_tokenizer

    if role == "classify":
        from ..tasks.text_classification import load_classifier

        model = load_classifier(source, dtype=dtype).eval()
    else:
        model = get_model(source, dtype=dtype).eval()
    try:
        tokenizer = get_tokenizer(source)
    except BigModelError:
        tokenizer = get_tokenizer(model)  # an adapter folder: the base model's tokenizer
    caps = _capabilities(model, role)
    served = ServedModel(model_id(source), source, model, tokenizer, caps)
    if GENERATE in caps:
        # An encoder-decoder is served one request at a time (serve/seq2seq.py).
        engine_class = Seq2SeqEngine if is_encoder_decoder(model) else BatchEngine
        served.engine = engine_class(model, tokenizer, max_batch_size=max_batch_size,
                                     max_concurrency=max_concurrency, name=served.id)
        served.chat_template = _chat_template(source)
    return served


# -- requests --------------------------------------------------------------------------------

async def read_json(request: Request, schema: type[BaseModel], limit: int) -> Any:
    """The body checked against ``schema``; APIError 413 / 400 naming what is wrong."""
    declared = request.headers.get("content-length")
    too_big = APIError(413, f"request body is larger than the limit of {limit} bytes", "body",
                       code="request_too_large")
    if declared is not None and declared.isdigit() and int(declared) > DRAIN_LIMIT:
        raise too_big
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > DRAIN_LIMIT:
                break
            if size <= limit:
                chunks.append(chunk)
    except ClientDisconnect:
        # Nobody reads the answer; one log line, not starlette's re-raised traceback.
        logger.info("%s %s: the client disconnected while sending the body", request.method, request.url.path)
        raise APIError(400, "the client disconnected before the body was complete", "body",
                       code="client_disconnected") from None
    if size > limit:
        raise too_big
    raw = b"".join(chunks)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise APIError(400, f"request body is not valid UTF-8 (byte {exc.start})", "body") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise APIError(400, f"request body is not valid JSON: {exc}", "body") from None
    except RecursionError:
        raise APIError(400, "request body is not valid JSON: nested too deeply", "body") from None
    if not isinstance(data, dict):
        raise APIError(400, "request body must be a JSON object", "body")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        where, message = first_error(exc)
        raise APIError(400, f"{where}: {message}", where) from None


class Registry:
    """The served models by id; a request's ``model`` is looked up here and nowhere else."""

    def __init__(self, models: list[ServedModel]) -> None:
        self.models: dict[str, ServedModel] = {}
        for m in models:
            if m.id in self.models:
                raise BigModelError(f"two served models share the name {m.id!r}; rename one folder")
            self.models[m.id] = m

    def get(self, name: str | None, capability: str, *, required: bool = True) -> ServedModel:
        able = [m for m in self.models.values() if capability in m.capabilities]
        if name is None or name == "":
            if required:
                raise APIError(400, "model: is required", "model")
            if not able:
                raise APIError(400, f"no served model can do {capability}; start the server with one",
                               "model", code="model_not_found")
            return able[0]
        served = self.models.get(name)
        if served is None:
            # Accept the exact source string too (e.g. the folder path the server was started with).
            served = next((m for m in self.models.values() if m.source == name), None)
        if served is None:
            names = list(self.models)
            raise APIError(400, f"model: {name[:200]!r} is not served here{did_you_mean(name[:200], names)}; "
                           f"served: {', '.join(names)}", "model", code="model_not_found")
        if capability not in served.capabilities:
            others = ", ".join(m.id for m in able) or "none"
            raise APIError(400, f"model: {served.id!r} cannot do {capability} (it can: "
                           f"{', '.join(served.capabilities)}); models that can: {others}", "model")
        return served


def _encode_prompt(served: ServedModel, prompt: str | list[int], add_special_tokens: bool = False) -> list[int]:
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


def _decode_input(served: ServedModel, ids: list[int]) -> str:
    """Token ids of the model's own tokenizer as the text they stand for (embedded as text)."""
    vocab = len(served.tokenizer)
    if any(not 0 <= t < vocab for t in ids):
        raise APIError(400, f"input: token ids must lie in 0..{vocab - 1}", "input")
    return served.tokenizer.decode(ids, skip_special_tokens=True)


def render_chat(served: ServedModel, messages: list[Any]) -> tuple[list[int], list[str]]:
    """Prompt ids for ``messages`` and the stop strings the template implies (tasks/chat.py)."""
    plain = [{"role": m.role, "content": m.text()} for m in messages]
    try:
        text, stops = render_conversation(plain, served.tokenizer, served.chat_template)
    except TemplateRefused as exc:
        raise APIError(400, f"messages: {exc}", "messages") from None
    except TemplateFailed as exc:
        raise APIError(500, str(exc), type="server_error") from None
    return _encode_prompt(served, text), stops


class Inbox:
    """Events from the engine thread to one request's coroutine.

    The engine puts an event per token and slot; waking the event loop for each would cost
    a system call apiece, so a put schedules at most one wake-up until the events are taken.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.items: collections.deque[Event] = collections.deque()
        self.lock = threading.Lock()
        self.ready = asyncio.Event()
        self.scheduled = False

    def put(self, event: Event) -> None:  # the engine thread
        with self.lock:
            self.items.append(event)
            if self.scheduled:
                return
            self.scheduled = True
        with contextlib.suppress(RuntimeError):  # the loop is gone: the server is stopping
            self.loop.call_soon_threadsafe(self.ready.set)

    async def take(self) -> list[Event]:
        await self.ready.wait()
        with self.lock:
            self.ready.clear()
            self.scheduled = False
            items = list(self.items)
            self.items.clear()
        return items


def merge_deltas(events: list[Event]) -> list[Event]:
    """Consecutive text of one choice as one delta (fewer, larger chunks under load)."""
    out: list[Event] = []
    open_delta: dict[int, int] = {}
    for ev in events:
        if isinstance(ev, Delta):
            at = open_delta.get(ev.index)
            if at is None:
                open_delta[ev.index] = len(out)
                out.append(Delta(ev.index, ev.text))
            else:
                out[at] = Delta(ev.index, out[at].text + ev.text)  # type: ignore[union-attr]
        else:
            open_delta.pop(ev.index, None)
            out.append(ev)
    return out


@dataclass
class GenerationJob:
    """The slots of one request and the inbox their events arrive in."""

    slots: list[Any]
    inbox: Inbox
    prompt_tokens: int

    def cancel(self) -> None:
        for slot in self.slots:
            slot.cancel()


def _params(req: Any, max_tokens: int, stops: list[str], choice: int, defaults: Any = None) -> SamplingParams:
    """The slot's settings: the request's, then for every field it left out the model's
    generation_config.json (``defaults``, the same rule as bm.generate), then OpenAI's."""
    seed = None if req.seed is None else req.seed + choice  # n choices must differ when sampling
    given = {name: getattr(req, name) for name in ("temperature", "top_p", "top_k", "repetition_penalty")
             if name in req.model_fields_set and getattr(req, name) is not None}
    if given.get("top_p") == 0:
        given["temperature"] = 0.0
    chosen = with_model_defaults(given, defaults)
    greedy = chosen.get("temperature") == 0 or ("temperature" not in given and chosen.get("do_sample") is False)
    return SamplingParams(max_new_tokens=max_tokens, temperature=0.0 if greedy else chosen.get("temperature", 1.0),
                          top_p=chosen.get("top_p") or 1.0, top_k=chosen.get("top_k", 0),
                          repetition_penalty=chosen.get("repetition_penalty"), seed=seed, stop=stops,
                          min_new_tokens=chosen.get("min_new_tokens"))


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


def start_job(served: ServedModel, prompts: list[list[int]], req: Any, max_tokens: int | None,
              field_name: str, stops: list[str], default_tokens: Callable[[int], int]) -> GenerationJob:
    engine = served.engine
    assert engine is not None
    if len(prompts) * req.n > engine.max_concurrency:
        raise APIError(400, f"n: {len(prompts)} prompt(s) × n={req.n} asks for more sequences than this server "
                       f"runs at once ({engine.max_concurrency})", "n")
    requests = []
    for ids in prompts:
        budget = max_tokens if max_tokens is not None else default_tokens(len(ids))
        try:
            engine.check(len(ids), budget, field_name)
        except BigModelError as exc:
            param = field_name if str(exc).startswith(field_name) else "prompt"
            raise APIError(400, str(exc), param) from None
        for j in range(req.n):
            requests.append((ids, _params(req, budget, stops, j, getattr(served.model, "generation_config", None))))
    inbox = Inbox(asyncio.get_running_loop())
    try:
        slots = engine.submit(requests, inbox.put)
    except QueueFull as exc:
        raise APIError(503, str(exc), None, type="server_overloaded", code="queue_full",
                       headers={"Retry-After": str(exc.retry_after)}) from None
    return GenerationJob(slots, inbox, sum(len(p) for p in prompts))


async def job_events(job: GenerationJob, request: Request | None = None) -> AsyncIterator[Event]:
    """Events until every slot is done; the slots are freed however this ends.

    With ``request`` (a non-streamed answer) a client that hangs up is noticed within 0.5 s;
    a stream notices when writing to it fails.
    """
    remaining = len(job.slots)
    try:
        while remaining:
            if request is None:
                batch = await job.inbox.take()
            else:
                try:
                    batch = await asyncio.wait_for(job.inbox.take(), timeout=0.5)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    continue
            for event in merge_deltas(batch):
                if isinstance(event, Done):
                    remaining -= 1
                yield event
    finally:
        job.cancel()


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _sse(data: Any) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()


# -- the application ---------------------------------------------------------------------------

def create_app(models: list[str] | None = None, *, embedding_models: list[str] | None = None,
               classifiers: list[str] | None = None, max_batch_size: int = 8, max_concurrency: int = 32,
               max_body_bytes: int = DEFAULT_MAX_BODY, dtype: str | None = None,
               preloaded: list[ServedModel] | None = None) -> FastAPI:
    """The FastAPI app serving these models (loaded now, so a bad name fails at start-up).

    ``dtype`` ("bf16", "fp32" ...) applies to the generation and fill-mask models; embedding
    models and classifiers keep the dtype they were saved in.
    """
    served = list(preloaded or [])
    limits = {"max_batch_size": max_batch_size, "max_concurrency": max_concurrency}
    for source in models or []:
        served.append(load_served(source, "generate", dtype=dtype, **limits))
    for source in embedding_models or []:
        served.append(load_served(source, "embed", **limits))
    for source in classifiers or []:
        served.append(load_served(source, "classify", **limits))
    if not served:
        raise BigModelError("give at least one model to serve (--model, --embedding-model or --classifier)")
    registry = Registry(served)
    metrics = Metrics([m.engine for m in served if m.engine is not None])

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        for m in served:
            if m.engine is not None:
                m.engine.close()

    app = FastAPI(title="bigmodel", version="1", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.registry = registry
    app.state.metrics = metrics
    app.add_middleware(metrics.middleware_class())
    app.add_middleware(AccessLog)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(BigModelError)
    async def _user_error(request: Request, exc: BigModelError) -> JSONResponse:
        return APIError(400, str(exc)).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return APIError(exc.status_code, message, type=kind, headers=getattr(exc, "headers", None)).response()

    @app.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception) -> JSONResponse:
        return APIError(500, f"internal error: {type(exc).__name__}: {exc}", type="server_error").response()

    limit = max_body_bytes

    # -- meta ----------------------------------------------------------------------------
    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": list(registry.models)}

    @app.get("/metrics")
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [m.card() for m in registry.models.values()]}

    @app.get("/v1/models/{name:path}")
    async def get_model_card(name: str) -> dict[str, Any]:
        if name not in registry.models:
            raise APIError(404, f"model {name[:200]!r} is not served here", "model", code="model_not_found")
        return registry.models[name].card()

    # -- generation ----------------------------------------------------------------------
    async def collect(job: Any, request: Request, n_choices: int,
                      token_ids: list[list[int]] | None = None) -> tuple[list[str], list[str], int]:
        """A non-streamed answer: each choice's text and finish reason, and the tokens made
        (each choice's token ids into ``token_ids`` when given)."""
        texts = [""] * n_choices
        reasons = ["length"] * n_choices
        completion = 0
        async for ev in job_events(job, request):
            if isinstance(ev, Delta):
                texts[ev.index] += ev.text
            else:
                if ev.finish_reason == "error":
                    raise APIError(500, "generation failed; see the server log", type="server_error")
                reasons[ev.index] = ev.finish_reason
                completion += ev.completion_tokens
                if token_ids is not None:
                    token_ids[ev.index] = list(ev.token_ids)
        return texts, reasons, completion

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        req: CompletionRequest = await read_json(request, CompletionRequest, limit)
        m = registry.get(req.model, GENERATE)
        raw_prompts = req.prompts()
        prompts = [_encode_prompt(m, p) for p in raw_prompts]
        check_scoring(m, req, prompts)
        job = None if req.max_tokens == 0 else start_job(
            m, prompts, req, req.max_tokens if req.max_tokens is not None else 16, "max_tokens",
            req.stop_list(), lambda n: 16)
        rid, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
        n_choices = len(job.slots) if job is not None else len(prompts) * req.n

        def choice(index: int, text: str, reason: str | None, logprobs: Any = None) -> dict[str, Any]:
            return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": reason}

        def envelope(choices: list[dict[str, Any]]) -> dict[str, Any]:
            return {"id": rid, "object": "text_completion", "created": created, "model": m.id, "choices": choices}

        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)

            async def sse() -> AsyncIterator[bytes]:
                completion = 0
                for i in range(n_choices) if req.echo else ():
                    shown = echo_text(m.tokenizer, raw_prompts[i // req.n], prompts[i // req.n])
                    yield _sse(envelope([choice(i, shown, None)]))
                async for ev in job_events(job):
                    if isinstance(ev, Delta):
                        yield _sse(envelope([choice(ev.index, ev.text, None)]))
                    else:
                        if ev.finish_reason == "error":
                            yield _sse({"error": {"message": "generation failed", "type": "server_error"}})
                            return
                        completion += ev.completion_tokens
                        yield _sse(envelope([choice(ev.index, "", ev.finish_reason)]))
                note_usage(request, _usage(job.prompt_tokens, completion))
                if include_usage:
                    yield _sse({**envelope([]), "usage": _usage(job.prompt_tokens, completion)})
                yield _sse("[DONE]")

            return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

        generated: list[list[int]] = [[] for _ in range(n_choices)]
        if job is None:
            texts, reasons, completion = [""] * n_choices, ["length"] * n_choices, 0
        else:
            texts, reasons, completion = await collect(job, request, n_choices, generated)
        logprobs: list[Any] = [None] * n_choices
        if req.echo or req.logprobs is not None:
            def score() -> list[tuple[str, Any]]:
                names = TokenNames(m.tokenizer)
                return [completion_choice(m.model, m.tokenizer, raw_prompts[i // req.n], prompts[i // req.n],
                                          texts[i], generated[i], logprobs=req.logprobs, echo=req.echo,
                                          names=names) for i in range(n_choices)]

            texts, logprobs = (list(x) for x in zip(*await asyncio.to_thread(score), strict=True))
        body = envelope([choice(i, texts[i], reasons[i], logprobs[i]) for i in range(n_choices)])
        body["usage"] = _usage(sum(len(p) for p in prompts), completion)
        note_usage(request, body["usage"])
        return JSONResponse(body)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        req: ChatCompletionRequest = await read_json(request, ChatCompletionRequest, limit)
        m = registry.get(req.model, GENERATE)
        check_chat_logprobs(m, req)
        ids, template_stops = render_chat(m, req.messages)
        max_tokens, field_name = req.token_limit()
        context = m.engine.context if m.engine else 0
        job = start_job(m, [ids], req, max_tokens, field_name, req.stop_list() + template_stops,
                        lambda n: max(1, min(512, context - n)))
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        n_choices = len(job.slots)

        def envelope(choices: list[dict[str, Any]], chunk: bool) -> dict[str, Any]:
            kind = "chat.completion.chunk" if chunk else "chat.completion"
            return {"id": rid, "object": kind, "created": created, "model": m.id, "choices": choices}

        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)

            async def sse() -> AsyncIterator[bytes]:
                for i in range(n_choices):
                    first = {"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                    yield _sse(envelope([first], True))
                completion = 0
                reply_start = ReplyStart()
                async for ev in job_events(job):
                    if isinstance(ev, Delta):
                        text = reply_start(ev.index, ev.text)
                        if not text:
                            continue
                        part = {"index": ev.index, "delta": {"content": text}, "finish_reason": None}
                        yield _sse(envelope([part], True))
                    else:
                        if ev.finish_reason == "error":
                            yield _sse({"error": {"message": "generation failed", "type": "server_error"}})
                            return
                        completion += ev.completion_tokens
                        yield _sse(envelope([{"index": ev.index, "delta": {}, "finish_reason": ev.finish_reason}],
                                            True))
                note_usage(request, _usage(job.prompt_tokens, completion))
                if include_usage:
                    yield _sse({**envelope([], True), "usage": _usage(job.prompt_tokens, completion)})
                yield _sse("[DONE]")

            return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

        generated: list[list[int]] = [[] for _ in range(n_choices)]
        texts, reasons, completion = await collect(job, request, n_choices, generated)
        logprobs: list[Any] = [None] * n_choices
        if req.logprobs:
            def score() -> list[dict[str, Any]]:
                names = TokenNames(m.tokenizer)
                return [chat_choice(m.model, m.tokenizer, ids, texts[i], generated[i], req.top_logprobs or 0,
                                    names) for i in range(n_choices)]

            logprobs = await asyncio.to_thread(score)
        reply_start = ReplyStart()
        choices = [{"index": i, "message": {"role": "assistant", "content": reply_start(i, texts[i])},
                    "logprobs": logprobs[i], "finish_reason": reasons[i]} for i in range(n_choices)]
        body = envelope(choices, False)
        body["usage"] = _usage(job.prompt_tokens, completion)
        note_usage(request, body["usage"])
        return JSONResponse(body)

    # -- the other tasks (the same functions as the CLI; run in a worker thread) ---------
    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> JSONResponse:
        req: EmbeddingRequest = await read_json(request, EmbeddingRequest, limit)
        m = registry.get(req.model, EMBED)
        texts = [_decode_input(m, x) if isinstance(x, list) else x for x in req.inputs()]

        def work() -> tuple[torch.Tensor, int]:
            from ..tasks.embeddings import embed

            vectors = embed(texts, m.model, tokenizer=m.tokenizer)
            tokens = sum(len(m.tokenizer.encode(t)) for t in texts)
            return vectors, tokens

        vectors, tokens = await asyncio.to_thread(work)
        if req.dimensions is not None and req.dimensions != vectors.shape[1]:
            raise APIError(400, f"dimensions: this model gives {vectors.shape[1]}-dimensional vectors, "
                           f"got {req.dimensions}", "dimensions")
        data = []
        for i, row in enumerate(vectors.float()):
            if req.encoding_format == "base64":
                value: Any = base64.b64encode(struct.pack(f"<{row.numel()}f", *row.tolist())).decode()
            else:
                value = row.tolist()
            data.append({"object": "embedding", "index": i, "embedding": value})
        return JSONResponse({"object": "list", "data": data, "model": m.id,
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    @app.post("/v1/fill-mask")
    async def fill_mask_endpoint(request: Request) -> JSONResponse:
        req: FillMaskRequest = await read_json(request, FillMaskRequest, limit)
        m = registry.get(req.model, FILL_MASK, required=False)

        def work() -> Any:
            from ..tasks.fill_mask import fill_mask

            return fill_mask(req.text, m.model, m.tokenizer, top_k=req.top_k)

        predictions = await asyncio.to_thread(work)
        mask = getattr(m.tokenizer, "mask_token", None)
        return JSONResponse({"model": m.id, "mask_token": mask, "predictions": predictions})

    @app.post("/v1/classify")
    async def classify_endpoint(request: Request) -> JSONResponse:
        req: ClassifyRequest = await read_json(request, ClassifyRequest, limit)
        m = registry.get(req.model, CLASSIFY, required=False)

        def work() -> Any:
            from ..tasks.text_classification import classify

            kwargs = {"top_k": req.top_k} if req.top_k is not None else {}
            return classify(req.text, m.model, tokenizer=m.tokenizer, **kwargs)

        result = await asyncio.to_thread(work)
        return JSONResponse({"model": m.id, "result": result})

    @app.post("/v1/attention")
    async def attention_endpoint(request: Request) -> JSONResponse:
        req: AttentionRequest = await read_json(request, AttentionRequest, limit)
        m = registry.get(req.model, ATTENTION, required=False)

        def work() -> dict[str, Any]:
            from ..explain.attention import attention_maps

            maps = attention_maps(m.model, req.text, m.tokenizer, layers=req.layers, heads=req.heads,
                                  max_tokens=req.max_tokens)
            return maps.to_dict()

        return JSONResponse({"model": m.id, **(await asyncio.to_thread(work))})

    from .task_routes import add_task_routes

    add_task_routes(app, registry, limit)

    # -- the playground ------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def playground() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


# -- running it ------------------------------------------------------------------------------

def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class BackgroundServer:
    """uvicorn in a thread on a loopback port (tests, benchmarks, notebooks)::

        with BackgroundServer(app) as server:
            requests.get(server.url + "/health")
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.host, self.port = host, int(self.sock.getsockname()[1])
        from .http_guard import uvicorn_options

        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2,
                                access_log=False, **uvicorn_options())
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
