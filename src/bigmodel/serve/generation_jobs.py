"""One generation request as a job on a model's engine: its slots, their events, its answer.

A request of p prompts and ``n`` choices becomes p·n slots on the model's
:class:`~bigmodel.serve.batching.BatchEngine` (or
:class:`~bigmodel.serve.seq2seq.Seq2SeqEngine`). The engine thread puts each slot's
events (text deltas, then one ``Done``) into the job's :class:`Inbox`; the request's
coroutine takes them, streamed or collected. However the request ends (done, client gone,
error), its slots are cancelled and freed.

Sampling follows OpenAI's meaning: temperature (0 = greedy), top_p, seed (choice i of n uses
seed + i), stop (cut from the text); no top-k unless the request sets ``top_k`` (an extension,
as is ``repetition_penalty``). A sampling field the request leaves out comes from the model's
generation_config.json when it has one (the shipped tiny GPTs do); ``temperature: 0`` is greedy.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from ..decoding.options import with_model_defaults
from ..errors import BigModelError
from .api_error import APIError
from .batching import Delta, Done, Event, QueueFull, SamplingParams
from .schemas import DECODING_FIELDS
from .served_models import ServedModel

__all__ = ["GenerationJob", "Inbox", "collect", "job_events", "merge_deltas", "sampling_params", "start_job"]


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


def sampling_params(req: Any, max_tokens: int, stops: list[str], choice: int,
                    defaults: Any = None) -> SamplingParams:
    """The slot's settings: the request's, then for every field it left out the model's
    generation_config.json (``defaults``, the same rule as bm.generate), then OpenAI's."""
    seed = None if req.seed is None else req.seed + choice  # n choices must differ when sampling
    given = {name: getattr(req, name) for name in DECODING_FIELDS
             if name in req.model_fields_set and getattr(req, name) is not None}
    if given.get("top_p") == 0:
        given["temperature"] = 0.0
    chosen = with_model_defaults(given, defaults)
    greedy = chosen.get("temperature") == 0 or ("temperature" not in given and chosen.get("do_sample") is False)
    return SamplingParams(max_new_tokens=max_tokens, temperature=0.0 if greedy else chosen.get("temperature", 1.0),
                          top_p=chosen.get("top_p") or 1.0, top_k=chosen.get("top_k", 0),
                          repetition_penalty=chosen.get("repetition_penalty"), seed=seed, stop=stops,
                          min_new_tokens=chosen.get("min_new_tokens"))


def _slot_requests(served: ServedModel, prompts: list[list[int]], req: Any, max_tokens: int | None,
                   field_name: str, stops: list[str],
                   default_tokens: Callable[[int], int]) -> list[tuple[list[int], SamplingParams]]:
    """(prompt ids, settings) for each of the request's sequences, each checked to fit."""
    engine = served.engine
    assert engine is not None
    defaults = getattr(served.model, "generation_config", None)
    requests = []
    for ids in prompts:
        budget = max_tokens if max_tokens is not None else default_tokens(len(ids))
        try:
            engine.check(len(ids), budget, field_name)
        except BigModelError as exc:
            param = field_name if str(exc).startswith(field_name) else "prompt"
            raise APIError(400, str(exc), param) from None
        requests.extend((ids, sampling_params(req, budget, stops, j, defaults)) for j in range(req.n))
    return requests


def start_job(served: ServedModel, prompts: list[list[int]], req: Any, max_tokens: int | None,
              field_name: str, stops: list[str], default_tokens: Callable[[int], int]) -> GenerationJob:
    """Queue the request's ``len(prompts) × req.n`` sequences; 400 when they cannot fit, 503
    + Retry-After when the queue is full."""
    engine = served.engine
    assert engine is not None
    if len(prompts) * req.n > engine.max_concurrency:
        raise APIError(400, f"n: {len(prompts)} prompt(s) × n={req.n} asks for more sequences than this server "
                       f"runs at once ({engine.max_concurrency})", "n")
    requests = _slot_requests(served, prompts, req, max_tokens, field_name, stops, default_tokens)
    inbox = Inbox(asyncio.get_running_loop())
    try:
        slots = engine.submit(requests, inbox.put)
    except QueueFull as exc:
        raise APIError(503, str(exc), None, type="server_overloaded", code="queue_full",
                       headers={"Retry-After": str(exc.retry_after)}) from None
    return GenerationJob(slots, inbox, sum(len(p) for p in prompts))


async def _take(job: GenerationJob, request: Request | None) -> list[Event] | None:
    """The next events; None once the client of a non-streamed answer has hung up."""
    if request is None:
        return await job.inbox.take()
    while True:
        try:
            return await asyncio.wait_for(job.inbox.take(), timeout=0.5)
        except TimeoutError:
            if await request.is_disconnected():
                return None


async def job_events(job: GenerationJob, request: Request | None = None) -> AsyncIterator[Event]:
    """Events until every slot is done; the slots are freed however this ends.

    With ``request`` (a non-streamed answer) a client that hangs up is noticed within 0.5 s;
    a stream notices when writing to it fails.
    """
    remaining = len(job.slots)
    try:
        while remaining:
            batch = await _take(job, request)
            if batch is None:
                return
            for event in merge_deltas(batch):
                if isinstance(event, Done):
                    remaining -= 1
                yield event
    finally:
        job.cancel()


async def collect(job: GenerationJob, request: Request, n_choices: int,
                  token_ids: list[list[int]] | None = None) -> tuple[list[str], list[str], int]:
    """A non-streamed answer: each choice's text and finish reason, and the tokens made
    (each choice's token ids into ``token_ids`` when given)."""
    texts = [""] * n_choices
    reasons = ["length"] * n_choices
    completion = 0
    async for ev in job_events(job, request):
        if isinstance(ev, Delta):
            texts[ev.index] += ev.text
            continue
        if ev.finish_reason == "error":
            raise APIError(500, "generation failed; see the server log", type="server_error")
        reasons[ev.index] = ev.finish_reason
        completion += ev.completion_tokens
        if token_ids is not None:
            token_ids[ev.index] = list(ev.token_ids)
    return texts, reasons, completion
