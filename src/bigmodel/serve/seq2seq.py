"""Serving an encoder-decoder (the Transformer): one request at a time, not batched.

The continuous-batching engine keeps one left-padded self-attention cache for all running
slots. An encoder-decoder would also need each slot's memory (S, d) and cross-attention
cache, of different source lengths, in the same batch; rather than a second batching scheme,
:class:`Seq2SeqEngine` decodes the queued slots one after another with the generation
engine's :class:`~bigmodel.decoding.runners.Seq2SeqRunner`::

    memory = encode(source)                      once per request   (1, S, d)
    logits = decode(y_<t, memory)                one token a step    (1, V)

It keeps the queue, backpressure, events, cancellation and metrics of
:class:`~bigmodel.serve.batching.BatchEngine`, and each slot picks its tokens with the same
processors, so a greedy or seeded request gives the tokens ``bigmodel.decoding`` gives.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from ..decoding.runners import Seq2SeqRunner
from ..errors import BigModelError
from .batching import BatchEngine, Slot

__all__ = ["Seq2SeqEngine"]


class _NoBatch:
    """Stands in for the running batch: slots never share a forward pass here."""

    def __init__(self, model: Any) -> None:
        del model

    def __len__(self) -> int:
        return 0

    def keep(self, rows: list[int]) -> None:
        del rows


class Seq2SeqEngine(BatchEngine):
    """Requests to one encoder-decoder, decoded in arrival order (see the module docstring)."""

    running_batch_class = _NoBatch

    def __init__(self, model: Any, tokenizer: Any, **kwargs: Any) -> None:
        super().__init__(model, tokenizer, **kwargs)
        config = model.config
        start = getattr(config, "decoder_start_token_id", None)
        self.start_token_id = int(start if start is not None else config.bos_token_id)

    def check(self, prompt_len: int, max_new_tokens: int, field: str = "max_tokens") -> None:
        """The source must fit the encoder, start token + new tokens the decoder."""
        if prompt_len < 1:
            raise BigModelError("prompt is empty after tokenization")
        if prompt_len > self.context:
            raise BigModelError(f"prompt: {prompt_len} tokens exceed the encoder's context of {self.context} tokens")
        if max_new_tokens + 1 > self.context:
            raise BigModelError(f"{field}={max_new_tokens} exceeds the decoder's context of {self.context} "
                                f"tokens (its start token included); at most {self.context - 1} fit")

    def _admit(self) -> None:
        while True:
            with self._lock:
                if not self.waiting or self._stopping:
                    return
                slot = self.waiting.popleft()
            if slot.cancelled:
                continue
            self._admitting = slot
            self._decode(slot)
            self._admitting = None

    def _decode(self, slot: Slot) -> None:
        slot.history_ids = [self.start_token_id]  # the decoder's sequence, as bigmodel.decoding penalizes
        source = torch.tensor([slot.prompt_ids], dtype=torch.long, device=self.model.device)
        runner = Seq2SeqRunner(self.model, source, None, slot.params.max_new_tokens, self.start_token_id)
        self.prompt_tokens += len(slot.prompt_ids)
        logits = runner.prefill()
        self.ttft_sum += time.monotonic() - slot.submitted
        self.ttft_count += 1
        while True:
            self.forward_calls += 1
            self.steps += 1
            self.batch_sizes[1] += 1
            token = slot.choose(logits[0])
            self._note_tokens(1)
            if slot.accept(token) or slot.cancelled or self._stopping:
                break
            logits = runner.step(torch.tensor([token], dtype=torch.long, device=self.model.device))
        if not slot.finished:
            self._fail([slot])
