"""Continuous batching: concurrent generation requests share forward passes.

One background thread owns the model and runs the decode loop. Each request is a *slot*
with its own sampling settings; between two decode steps, waiting slots join the running
batch and finished (or abandoned) slots leave it. A step is one forward pass over all
active slots at once:

    input (N, 1) = each slot's newest token      positions (N, 1) = each slot's own length
    mask  (N, L + 1): 1 where a slot has a real token, 0 on its left padding

The running batch keeps one KV cache (per layer (N, nh, capacity, hs)) whose rows are
*left-padded* to the common length L. A joining request is prefilled alone (one forward
over its prompt, cache of its own) and its rows are copied in, right-aligned at L; if it is
longer than L the others are shifted right instead. When slots leave, the columns every
remaining slot has as padding are cut off, so L stays the length of the longest slot.
Joining and leaving copy the cache (O(N · L) per event); steps only append.

Per-slot choice: the processors of ``bigmodel.decoding.processors`` (repetition penalty,
temperature, top-k, top-p) on that slot's row of logits, then argmax (temperature 0) or a
draw from its own seeded generator, exactly as ``bigmodel.decoding.generate`` does for one
prompt; so at temperature 0 (and with a seed) a batched slot yields the same tokens.

Backpressure: at most ``max_batch_size`` slots decode together and at most
``max_concurrency`` slots exist (running + waiting); :meth:`BatchEngine.submit` raises
:class:`QueueFull` beyond that, which the server answers with 503 and Retry-After.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..decoding.processors import LogitsProcessor, apply_processors, build_processors
from ..decoding.search import greedy_choice
from ..decoding.stop_text import StopText
from ..decoding.streaming import TextDeltas
from ..errors import BigModelError
from ..nn.attention import KVCache
from ..validation import MIN_TEMPERATURE

logger = logging.getLogger(__name__)

__all__ = ["BatchEngine", "Done", "Delta", "QueueFull", "SamplingParams", "Slot", "StopText"]


class QueueFull(Exception):
    """More slots were asked for than the engine admits; retry after ``retry_after`` s."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class SamplingParams:
    """One slot's settings. temperature 0 = greedy; top_k 0 = off."""

    max_new_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float | None = None
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    min_new_tokens: int | None = None  # EOS not allowed before this many tokens

    @property
    def greedy(self) -> bool:
        # A temperature too small to divide logits by is the greedy limit (bigmodel.validation).
        return self.temperature < MIN_TEMPERATURE


@dataclass
class Delta:
    index: int
    text: str


@dataclass
class Done:
    index: int
    finish_reason: str  # "stop" (EOS or stop string) or "length"
    prompt_tokens: int
    completion_tokens: int
    token_ids: list[int]


Event = Delta | Done


class Slot:
    """One sequence being generated: prompt, settings, tokens so far, where events go."""

    def __init__(self, prompt_ids: list[int], params: SamplingParams, sink: Callable[[Event], None],
                 tokenizer: Any, eos_ids: list[int], index: int = 0) -> None:
        self.prompt_ids = list(prompt_ids)
        self.history_ids = self.prompt_ids  # what the repetition penalty sees before the new tokens
        self.params = params
        self.sink = sink
        self.index = index
        self.tokens: list[int] = []
        self.eos = set(eos_ids)
        self.cancelled = False
        self.finished = False
        # Called once when the slot stops counting against max_concurrency (set by the engine).
        self.on_release: Callable[[Slot], None] = lambda slot: None
        self.deltas = TextDeltas(tokenizer, skip_special_tokens=True)
        self.stop_text = StopText(params.stop)
        self.processors: list[LogitsProcessor] = build_processors(
            do_sample=not params.greedy,
            temperature=params.temperature,
            top_k=params.top_k or None,
            top_p=params.top_p,
            repetition_penalty=params.repetition_penalty,
            min_new_tokens=params.min_new_tokens,
            prompt_length=len(self.prompt_ids),
            eos_token_id=list(eos_ids) or None,
        )
        self.generator: torch.Generator | None = None
        if params.seed is not None:
            self.generator = torch.Generator().manual_seed(params.seed)
        self.submitted = time.monotonic()
        self.first_token_at: float | None = None

    def cancel(self) -> None:
        """The client went away: the engine drops the slot before its next step."""
        self.cancelled = True
        self.on_release(self)

    def choose(self, logits: Tensor) -> int:
        """logits (V,) float32 -> the next token, by this slot's rules."""
        scores = logits[None, :].cpu()  # the slot's history and seeded generator live on the CPU
        if self.processors:
            history = torch.tensor([self.history_ids + self.tokens], dtype=torch.long)
            scores = apply_processors(self.processors, history, scores)
        if self.params.greedy:
            return int(greedy_choice(scores))
        probs = torch.softmax(scores, dim=-1)
        return int(torch.multinomial(probs, 1, generator=self.generator))

    def accept(self, token: int) -> bool:
        """Record ``token``, send the text it completes; True when the slot is done."""
        if self.first_token_at is None:
            self.first_token_at = time.monotonic()
        self.tokens.append(token)
        if token in self.eos:
            return self._finish("stop")
        text, stopped = self.stop_text.feed(self.deltas.push(token))
        if text:
            self.sink(Delta(self.index, text))
        if stopped:
            return self._finish("stop", by_stop_string=True)
        if len(self.tokens) >= self.params.max_new_tokens:
            return self._finish("length")
        return False

    def _finish(self, reason: str, by_stop_string: bool = False) -> bool:
        if not by_stop_string:
            # Text held back (an unfinished character, a possible stop prefix) is final now.
            text, stopped = self.stop_text.feed(self.deltas.flush())
            if stopped:
                reason = "stop"
            else:
                text += self.stop_text.flush()
            if text:
                self.sink(Delta(self.index, text))
        self.finished = True
        # Released before the client can see Done: its next request must find the room free.
        self.on_release(self)
        self.sink(Done(self.index, reason, len(self.prompt_ids), len(self.tokens), list(self.tokens)))
        return True


class RunningBatch:
    """The KV cache of the active slots, left-padded to a common length (module docstring)."""

    def __init__(self, model: Any) -> None:
        config = model.config
        self.model = model
        self.context = int(config.max_seq_len)
        self.n_layers = int(config.n_layers)
        self.cache: KVCache | None = None
        self.pads: list[int] = []
        self.length = 0

    def __len__(self) -> int:
        return len(self.pads)

    def _new_cache(self, rows: int, capacity: int) -> KVCache:
        return self.model.new_kv_cache(rows, capacity)

    def _capacity_for(self, needed: int) -> int:
        current = self.cache.max_len if self.cache is not None else 0
        if needed <= current:
            return current
        # Grow geometrically so that a long generation reallocates O(log n) times.
        return min(self.context, max(needed, 2 * current, 64))

    def add(self, row: KVCache) -> None:
        """Copy a prefilled one-row cache in as the last row."""
        r = len(row)
        if self.cache is None:
            shift, new_length = 0, r
        else:
            shift, new_length = max(0, r - self.length), max(self.length, r)
        rows = len(self.pads) + 1
        capacity = self._capacity_for(new_length + 1)
        fresh = self._new_cache(rows, capacity)
        for layer in range(self.n_layers):
            for new, old, one in ((fresh.keys, self.cache.keys if self.cache else None, row.keys),
                                  (fresh.values, self.cache.values if self.cache else None, row.values)):
                if old is not None:
                    new[layer][:-1, :, shift: shift + self.length] = old[layer][:, :, : self.length]
                new[layer][-1:, :, new_length - r: new_length] = one[layer][:, :, :r]
        self.pads = [p + shift for p in self.pads] + [new_length - r]
        self.length = new_length
        fresh.lengths = [new_length] * self.n_layers
        self.cache = fresh

    def keep(self, rows: list[int]) -> None:
        """Keep only ``rows`` (indices into the batch), then cut the shared left padding."""
        if not rows:
            self.cache, self.pads, self.length = None, [], 0
            return
        assert self.cache is not None
        if len(rows) != len(self.pads):
            index = torch.tensor(rows, dtype=torch.long, device=self.cache.keys[0].device)
            self.cache.reorder(index)
            self.pads = [self.pads[i] for i in rows]
        cut = min(self.pads)
        if cut > 0:
            for layer in range(self.n_layers):
                for store in (self.cache.keys, self.cache.values):
                    store[layer] = store[layer][:, :, cut:].contiguous()
            self.cache.max_len -= cut
            self.pads = [p - cut for p in self.pads]
            self.length -= cut
            self.cache.lengths = [self.length] * self.n_layers

    def ensure_room(self) -> None:
        """Make room for one more position in every row."""
        assert self.cache is not None
        if self.length + 1 <= self.cache.max_len:
            return
        capacity = self._capacity_for(self.length + 1)
        fresh = self._new_cache(len(self.pads), capacity)
        for layer in range(self.n_layers):
            fresh.keys[layer][:, :, : self.length] = self.cache.keys[layer][:, :, : self.length]
            fresh.values[layer][:, :, : self.length] = self.cache.values[layer][:, :, : self.length]
        fresh.lengths = [self.length] * self.n_layers
        self.cache = fresh

    def step_inputs(self) -> tuple[Tensor | None, Tensor | None]:
        """(mask (N, L + 1), positions (N, 1)), or (None, None) when no row is padded."""
        if not any(self.pads):
            return None, None
        pads = torch.tensor(self.pads, dtype=torch.long, device=self.model.device)
        columns = torch.arange(self.length + 1, device=pads.device)
        mask = (columns[None, :] >= pads[:, None]).long()
        positions = (self.length - pads)[:, None]
        return mask, positions


class BatchEngine:
    """The decode loop of one causal LM, shared by all generation requests to it."""

    running_batch_class: type = RunningBatch

    def __init__(self, model: Any, tokenizer: Any, *, max_batch_size: int = 8,
                 max_concurrency: int = 32, name: str = "model", autostart: bool = True) -> None:
        if max_batch_size < 1 or max_concurrency < 1:
            raise BigModelError("max_batch_size and max_concurrency must be >= 1")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.autostart = autostart  # False: nothing runs until start() (tests queue requests first)
        self.max_batch_size = max_batch_size
        self.max_concurrency = max(max_concurrency, max_batch_size)
        self.context = int(model.config.max_seq_len)
        eos = getattr(model.config, "eos_token_id", None)
        self.eos_ids = [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
        self.waiting: collections.deque[Slot] = collections.deque()
        self.active: list[Slot] = []
        self.batch = self.running_batch_class(model)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._paused = False
        self._thread: threading.Thread | None = None
        self.forward_calls = 0
        self.tokens_generated = 0
        self.prompt_tokens = 0
        self.steps = 0
        self.batch_sizes: collections.Counter[int] = collections.Counter()  # rows per decode step
        self.ttft_sum = 0.0
        self.ttft_count = 0
        self._recent: collections.deque[tuple[float, int]] = collections.deque()  # (time, tokens) per step
        self._admitting: Slot | None = None  # popped from the queue, not yet in the batch
        # Slots submitted and neither finished nor cancelled: what max_concurrency limits.
        # Counted apart from waiting/active, which the loop empties only after its step.
        self._live: set[Slot] = set()

    # -- requests ------------------------------------------------------------------------
    def check(self, prompt_len: int, max_new_tokens: int, field: str = "max_tokens") -> None:
        """A BigModelError naming ``field`` when the request cannot fit the context."""
        if prompt_len < 1:
            raise BigModelError("prompt is empty after tokenization")
        if prompt_len >= self.context:
            raise BigModelError(f"prompt: {prompt_len} tokens leave no room in the model's context of "
                                f"{self.context} tokens")
        if prompt_len + max_new_tokens > self.context:
            raise BigModelError(f"{field}={max_new_tokens} with a prompt of {prompt_len} tokens exceeds the "
                                f"model's context of {self.context} tokens; at most "
                                f"{self.context - prompt_len} fit")

    def submit(self, requests: list[tuple[list[int], SamplingParams]], sink: Callable[[Event], None]) -> list[Slot]:
        """Queue slots (all or none); their events go to ``sink`` from the engine thread."""
        for prompt_ids, params in requests:
            self.check(len(prompt_ids), params.max_new_tokens)
        with self._lock:
            if self._stopping:
                raise QueueFull("the server is shutting down")
            busy = len(self._live)
            if busy + len(requests) > self.max_concurrency:
                raise QueueFull(f"{busy} sequences are running or waiting (limit {self.max_concurrency}); "
                                "retry shortly")
            slots = [Slot(ids, params, sink, self.tokenizer, self.eos_ids, i)
                     for i, (ids, params) in enumerate(requests)]
            for slot in slots:
                slot.on_release = self._release
                self._live.add(slot)
            self.waiting.extend(slots)
            self._wake.notify()
        if self.autostart:
            self.start()
        return slots

    def _release(self, slot: Slot) -> None:
        with self._lock:
            self._live.discard(slot)

    def recent_tokens_per_second(self, window: float = 10.0) -> float:
        now = time.monotonic()
        recent = list(self._recent)
        tokens = sum(n for t, n in recent if t >= now - window)
        return tokens / window

    def _note_tokens(self, n: int) -> None:
        now = time.monotonic()
        self.tokens_generated += n
        self._recent.append((now, n))
        while self._recent and self._recent[0][0] < now - 60:
            self._recent.popleft()

    @property
    def queue_depth(self) -> int:
        return len(self.waiting)

    @property
    def running(self) -> int:
        return len(self.active)

    # -- the loop ------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name=f"decode-{self.name}", daemon=True)
                self._thread.start()

    def pause(self) -> None:
        """Hold the loop between two steps (requests still queue); :meth:`resume` goes on."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            self._wake.notify()

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _forward(self, ids: Tensor, mask: Tensor | None, positions: Tensor | None, cache: KVCache) -> Tensor:
        self.forward_calls += 1
        out = self.model(ids, mask, positions, kv_cache=cache, logits_to_keep=1)
        return out.logits[:, -1].float()  # (N, V)

    def _admit(self) -> None:
        """Prefill waiting slots (one forward each) and add them to the running batch."""
        while True:
            with self._lock:
                if not self.waiting or len(self.active) >= self.max_batch_size or self._stopping:
                    return
                slot = self.waiting.popleft()
            if slot.cancelled:
                continue
            self._admitting = slot
            ids = torch.tensor([slot.prompt_ids], dtype=torch.long, device=self.model.device)
            cache = self.model.new_kv_cache(1, len(slot.prompt_ids))
            logits = self._forward(ids, None, None, cache)
            self.prompt_tokens += len(slot.prompt_ids)
            token = slot.choose(logits[0])
            self._note_tokens(1)
            self.ttft_sum += time.monotonic() - slot.submitted
            self.ttft_count += 1
            if slot.accept(token):
                continue
            self.batch.add(cache)
            self.active.append(slot)
            self._admitting = None

    def _step(self) -> None:
        self.batch.ensure_room()
        mask, positions = self.batch.step_inputs()
        ids = torch.tensor([[s.tokens[-1]] for s in self.active], dtype=torch.long, device=self.model.device)
        assert self.batch.cache is not None
        logits = self._forward(ids, mask, positions, self.batch.cache)
        self.batch.length += 1
        self.steps += 1
        self.batch_sizes[len(self.active)] += 1
        greedy = greedy_choice(logits.float()).tolist()
        produced = 0
        for i, slot in enumerate(self.active):
            if slot.cancelled:
                continue
            token = greedy[i] if slot.params.greedy and not slot.processors else slot.choose(logits[i])
            produced += 1
            slot.accept(token)
        self._note_tokens(produced)

    def _drop_finished(self) -> None:
        keep = [i for i, s in enumerate(self.active) if not (s.finished or s.cancelled)]
        if len(keep) != len(self.active):
            self.batch.keep(keep)
            self.active = [self.active[i] for i in keep]

    def _fail(self, slots: list[Slot]) -> None:
        for slot in slots:
            if not slot.finished:
                slot.finished = True
                slot.on_release(slot)
                slot.sink(Done(slot.index, "error", len(slot.prompt_ids), len(slot.tokens), list(slot.tokens)))

    def _run(self) -> None:
        with torch.inference_mode():
            while True:
                with self._lock:
                    while not self._stopping and (self._paused or (not self.waiting and not self.active)):
                        self._wake.wait()
                    if self._stopping:
                        break
                try:
                    self._drop_finished()
                    self._admit()
                    if self.active:
                        self._step()
                        self._drop_finished()
                except Exception:  # the requests in flight end with an error; the loop goes on
                    logger.exception("decode step failed; ending %d running sequences", len(self.active))
                    self._fail(self.active + ([self._admitting] if self._admitting else []))
                    self.active = []
                    self.batch.keep([])
                finally:
                    self._admitting = None
        with self._lock:
            left = list(self.waiting) + self.active
            self.waiting.clear()
        self._fail(left)
        self.active = []
        self.batch.keep([])
