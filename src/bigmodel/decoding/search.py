"""Decoding strategies: greedy, multinomial sampling and beam search.

All three pick the next token from p(x_t | x_<t) computed by a runner (see runners.py):

    greedy    x_t = argmax_v s_v
    sampling  x_t ~ softmax(s')        s' = the processed scores (temperature, top-k/p ...)
    beam      keep the num_beams prefixes with the highest Σ log p, and rank finished ones
              by Σ log p / (length ** length_penalty)

A row stops at an EOS token, at a stop string (checked on the decoded text, so a string
split over several tokens is found too), after ``max_new_tokens``, or when ``max_time``
has passed; finished rows are padded with ``pad_token_id`` while the others go on.

The beam search is transformers' vectorized algorithm (same candidates, same tie-breaking,
same early-stopping heuristic), which is what makes its output token-identical.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from ..errors import BigModelError
from .options import GenerationOptions, parse_options
from .processors import LogitsProcessor, apply_processors, build_processors
from .runners import CausalLMRunner, Runner, Seq2SeqRunner, is_encoder_decoder

__all__ = ["DecodeLoop", "StopStrings", "beam_search", "generate", "prepare"]



def greedy_choice(scores: Tensor) -> Tensor:
    """argmax_v s_v per row (the first of equal maxima, a NaN counting as the largest, as
    ``torch.argmax``). On the CPU numpy's vectorised argmax does it: for GPT-2's 50,257 fp32
    scores torch's took 95-136 µs on Intel(R) Xeon(R) Processor (2 threads), about 1% of a bf16
    decoding step, numpy's 7 µs (tests/decoding/test_search.py checks the two agree)."""
    if scores.device.type == "cpu" and scores.dtype == torch.float32 and scores.dim() == 2:
        return torch.from_numpy(scores.detach().contiguous().numpy().argmax(axis=-1))
    return scores.argmax(dim=-1)


class StopStrings:
    """Finds stop strings in the text decoded from each row's newest tokens.

    A byte-level token decodes to at least one byte, so the last ``longest stop string in
    bytes + 1`` tokens always cover any occurrence that the newest token completes.
    """

    def __init__(self, stop_strings: list[str], tokenizer: Any) -> None:
        self.stops = stop_strings
        self.tokenizer = tokenizer
        self.window = max(len(s.encode("utf-8")) for s in stop_strings) + 1

    def hits(self, tails: list[list[int]]) -> list[bool]:
        texts = self.tokenizer.batch_decode(tails)
        return [any(s in text for s in self.stops) for text in texts]

    def check(self, generated: Tensor) -> Tensor:
        """generated (N, t) new tokens so far -> (N,) bool: the text contains a stop string."""
        tails = generated[:, -self.window:].tolist()
        return torch.tensor(self.hits(tails), dtype=torch.bool, device=generated.device)


def _budget(opts: GenerationOptions, prompt_len: int, context: int | None, *, decoder_only: bool = True) -> int:
    if opts.max_new_tokens is not None:
        new = opts.max_new_tokens
    elif opts.max_length is not None:
        new = max(opts.max_length - prompt_len, 0)
    else:
        new = 20
    if context is not None and prompt_len + new > context and not decoder_only:
        raise BigModelError(f"max_new_tokens={new} exceeds the decoder's context of {context} tokens (its start "
                            f"token included); at most {context - 1} new tokens fit")
    if context is not None and prompt_len + new > context:
        raise BigModelError(
            f"max_new_tokens={new} with a prompt of {prompt_len} tokens exceeds the model's context of "
            f"{context} tokens; at most {max(context - prompt_len, 0)} new tokens fit")
    return new


def prepare(model: Any, input_ids: Tensor, attention_mask: Tensor | None, opts: GenerationOptions,
            ) -> tuple[Runner, Tensor, int, list[LogitsProcessor]]:
    """A runner for ``model``, the sequences so far (N, T) and the processors.

    Rows are repeated num_beams (beam search) or num_return_sequences (sampling) times.
    """
    if not isinstance(input_ids, Tensor) or input_ids.dim() != 2 or input_ids.dtype != torch.long:
        got = tuple(input_ids.shape) if isinstance(input_ids, Tensor) else type(input_ids).__name__
        raise BigModelError(f"input_ids must be a LongTensor of shape (batch, tokens), got {got}")
    if input_ids.shape[1] == 0:
        raise BigModelError("input_ids is empty: give at least one prompt token")
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise BigModelError(f"attention_mask has shape {tuple(attention_mask.shape)}, "
                            f"expected that of input_ids {tuple(input_ids.shape)}")
    config = getattr(model, "config", None)
    vocab = getattr(config, "tgt_vocab_size", None) or getattr(config, "vocab_size", None)
    if vocab is not None and (int(input_ids.min()) < 0 or int(input_ids.max()) >= vocab):
        raise BigModelError(f"input_ids holds ids outside the vocabulary (0..{vocab - 1})")
    repeat = opts.num_beams if opts.num_beams > 1 else opts.num_return_sequences
    if repeat > 1:
        input_ids = input_ids.repeat_interleave(repeat, dim=0)
        attention_mask = attention_mask.repeat_interleave(repeat, dim=0) if attention_mask is not None else None
    context = getattr(config, "max_seq_len", None)
    padding_lengths = None
    if is_encoder_decoder(model):
        if opts.decoder_start_token_id is None:
            raise BigModelError("this encoder-decoder has no decoder start token: pass decoder_start_token_id")
        new = _budget(opts, 1, context, decoder_only=False)
        runner: Runner = Seq2SeqRunner(model, input_ids, attention_mask, new, opts.decoder_start_token_id)
        sequences = runner.start.clone()
    else:
        new = _budget(opts, input_ids.shape[1], context)
        runner = CausalLMRunner(model, input_ids, attention_mask, new)
        sequences = input_ids
        if attention_mask is not None:
            padding_lengths = (attention_mask != 0).int().argmax(dim=1)
    processors = build_processors(
        do_sample=opts.do_sample,
        temperature=opts.temperature,
        top_k=50 if opts.top_k is None else opts.top_k,
        top_p=opts.top_p,
        min_p=opts.min_p,
        repetition_penalty=opts.repetition_penalty,
        no_repeat_ngram_size=opts.no_repeat_ngram_size,
        bad_words_ids=opts.bad_words_ids,
        forced_eos_token_id=opts.forced_eos_token_id,
        max_length=sequences.shape[1] + new,
        eos_token_id=opts.eos_token_id,
        padding_lengths=padding_lengths,
        min_new_tokens=opts.min_new_tokens,
        prompt_length=sequences.shape[1],
    ) + list(opts.logits_processor)
    return runner, sequences, new, processors


class DecodeLoop:
    """Greedy decoding or sampling, one step per iteration.

    Iterating yields the tokens (N,) chosen at each step (``pad_token_id`` for rows that had
    already finished). Afterwards ``sequences`` (N, T + steps) holds prompt and new tokens,
    ``finish_reasons[i]`` is "stop" (EOS or stop string) or "length", and
    ``new_tokens[i]`` counts row i's generated tokens (its EOS included).
    """

    def __init__(self, model: Any, input_ids: Tensor, attention_mask: Tensor | None = None,
                 opts: GenerationOptions | None = None, **kwargs: Any) -> None:
        self.opts = opts or parse_options(kwargs, getattr(model, "config", None),
                                          defaults=getattr(model, "generation_config", None))
        if self.opts.num_beams > 1:
            raise BigModelError("DecodeLoop does greedy decoding and sampling; use beam_search for num_beams > 1")
        self.runner, prompt, self.max_new_tokens, self.processors = prepare(
            model, input_ids, attention_mask, self.opts)
        n, t = prompt.shape
        self.prompt_len = t
        self._buffer = prompt.new_empty((n, t + self.max_new_tokens))
        self._buffer[:, :t] = prompt
        self.length = t
        self.unfinished = torch.ones(n, dtype=torch.bool, device=prompt.device)
        self.finish_reasons: list[str | None] = [None] * n
        self._new_tokens = torch.zeros(n, dtype=torch.long, device=prompt.device)
        self.generator = self.opts.generator
        if self.generator is None and self.opts.seed is not None:
            self.generator = torch.Generator(device=prompt.device).manual_seed(self.opts.seed)
        self.stop = (StopStrings(self.opts.stop_strings, self.opts.tokenizer)
                     if self.opts.stop_strings else None)
        eos = self.opts.eos_ids
        self._eos = torch.tensor(eos, device=prompt.device) if eos else None

    @property
    def sequences(self) -> Tensor:
        return self._buffer[:, : self.length]

    @property
    def new_tokens(self) -> list[int]:
        return self._new_tokens.tolist()

    def _choose(self, logits: Tensor) -> Tensor:
        scores = apply_processors(self.processors, self.sequences, logits) if self.processors else logits
        if self.opts.do_sample:
            probs = torch.softmax(scores, dim=-1)
            return torch.multinomial(probs, 1, generator=self.generator).squeeze(1)
        return greedy_choice(scores)

    def _finish(self, rows: Tensor, reason: str) -> None:
        for i in rows.nonzero().flatten().tolist():
            if self.finish_reasons[i] is None:
                self.finish_reasons[i] = reason

    def __iter__(self) -> Iterator[Tensor]:
        if self.max_new_tokens == 0:
            self._finish(self.unfinished, "length")
            return
        pad = self.opts.pad_token_id
        deadline = time.monotonic() + self.opts.max_time if self.opts.max_time else None
        with torch.inference_mode():
            logits = self.runner.prefill()
            for step in range(self.max_new_tokens):
                tokens = self._choose(logits)
                if pad is not None:
                    tokens = torch.where(self.unfinished, tokens, pad)
                self._buffer[:, self.length] = tokens
                self.length += 1
                self._new_tokens += self.unfinished
                done = torch.zeros_like(self.unfinished)
                if self._eos is not None:
                    done |= torch.isin(tokens, self._eos)
                if self.stop is not None:
                    done |= self.stop.check(self._buffer[:, self.prompt_len: self.length])
                self._finish(done & self.unfinished, "stop")
                self.unfinished &= ~done
                yield tokens
                last = step == self.max_new_tokens - 1
                if last or not bool(self.unfinished.any()):
                    break
                if deadline is not None and time.monotonic() > deadline:
                    break
                logits = self.runner.step(tokens)
        self._finish(self.unfinished, "length")


def beam_search(model: Any, input_ids: Tensor, attention_mask: Tensor | None, opts: GenerationOptions) -> Tensor:
    """Beam search; returns (batch · num_return_sequences, T + new) best-first per prompt."""
    runner, flat, max_new, processors = prepare(model, input_ids, attention_mask, opts)
    nb = opts.num_beams
    n, prompt_len = flat.shape
    batch = n // nb
    max_length = prompt_len + max_new
    eos = opts.eos_ids
    device = flat.device
    beams_to_keep = max(2, 1 + len(eos)) * nb
    top_beams = torch.arange(beams_to_keep, device=device) < nb  # (K,)
    pad = opts.pad_token_id
    fill = (pad if pad else eos[0]) if eos else -1
    length_penalty, early_stopping = float(opts.length_penalty), opts.early_stopping
    eos_t = torch.tensor(eos, device=device) if eos else None
    stop = StopStrings(opts.stop_strings, opts.tokenizer) if opts.stop_strings else None
    deadline = time.monotonic() + opts.max_time if opts.max_time else None

    running = torch.full((batch, nb, max_length), fill, dtype=torch.long, device=device)
    running[:, :, :prompt_len] = flat.view(batch, nb, prompt_len)
    finished = running.clone()
    running_scores = torch.zeros(batch, nb, device=device)
    running_scores[:, 1:] = -1e9  # only the first beam's tokens count at the first step
    finished_scores = torch.full((batch, nb), -1e9, device=device)
    is_finished = torch.zeros(batch, nb, dtype=torch.bool, device=device)
    can_improve = torch.ones(batch, 1, dtype=torch.bool, device=device)
    running_parents = torch.full((batch, nb, max_new), -1, dtype=torch.int32, device=device)
    finished_parents = running_parents.clone()
    batch_offset = torch.arange(batch, device=device).view(-1, 1) * nb

    def gather(t: Tensor, index: Tensor) -> Tensor:
        while index.dim() < t.dim():
            index = index.unsqueeze(-1)
        return torch.take_along_dim(t, index, dim=1)

    cur_len = prompt_len
    with torch.inference_mode():
        logits = runner.prefill()
        while max_new > 0:
            log_probs = torch.log_softmax(logits, dim=-1)
            log_probs = apply_processors(processors, flat, log_probs)
            vocab = log_probs.shape[-1]
            scores = (log_probs.view(batch, nb, vocab) + running_scores[:, :, None]).view(batch, nb * vocab)

            # Top K = beams_to_keep candidates over all beams of each prompt.
            if opts.do_sample:
                idx = torch.multinomial(torch.softmax(scores, dim=-1), beams_to_keep, generator=opts.generator)
                top_scores = torch.gather(scores, 1, idx)
                top_scores, order = top_scores.sort(dim=-1, descending=True)
                idx = idx.gather(-1, order)
            else:
                top_scores, idx = torch.topk(scores, beams_to_keep)
            parent = idx // vocab  # (B, K)
            top_seqs = gather(running, parent)
            top_parents = gather(running_parents, parent)
            top_seqs[:, :, cur_len] = idx % vocab
            top_parents[:, :, cur_len - prompt_len] = (parent + batch_offset).to(torch.int32)

            # Which candidates end here (EOS, length, time, stop string).
            hits = torch.zeros(batch, beams_to_keep, dtype=torch.bool, device=device)
            if eos_t is not None:
                hits |= torch.isin(top_seqs[:, :, cur_len], eos_t)
            if cur_len + 1 >= max_length or (deadline is not None and time.monotonic() > deadline):
                hits[:] = True
            if stop is not None:
                tails = top_seqs[:, :, max(prompt_len, cur_len + 1 - stop.window): cur_len + 1]
                hits |= torch.tensor(stop.hits(tails.reshape(batch * beams_to_keep, -1).tolist()),
                                     device=device).view(batch, beams_to_keep)

            # The best num_beams candidates that did not finish keep running.
            still_running = top_scores + hits.float() * -1.0e9
            keep = torch.topk(still_running, k=nb).indices
            running = gather(top_seqs, keep)
            running_scores = gather(still_running, keep)
            running_parents = gather(top_parents, keep)

            # Finished candidates among the top num_beams compete for the final list.
            just_finished = hits & top_beams[None, :]
            final_scores = top_scores / ((cur_len + 1 - prompt_len) ** length_penalty)
            full = is_finished.all(dim=-1, keepdim=True) & (early_stopping is True)
            final_scores = final_scores + full.float() * -1.0e9
            final_scores = final_scores + (~can_improve).float() * -1.0e9
            final_scores = final_scores + (~just_finished) * -1.0e9
            merged_scores = torch.cat((finished_scores, final_scores), dim=1)
            best = torch.topk(merged_scores, k=nb).indices
            finished = gather(torch.cat((finished, top_seqs), dim=1), best)
            finished_scores = gather(merged_scores, best)
            finished_parents = gather(torch.cat((finished_parents, top_parents), dim=1), best)
            is_finished = gather(torch.cat((is_finished, just_finished), dim=1), best)

            beam_idx = running_parents[..., cur_len - prompt_len].reshape(-1).long()
            cur_len += 1
            # Can a running beam still beat the worst finished one?
            if early_stopping == "never" and length_penalty > 0.0:
                best_len = max_length - prompt_len
            else:
                best_len = cur_len - prompt_len
            best_running = running_scores[:, :1] / (best_len ** length_penalty)
            worst_final = torch.where(is_finished, finished_scores.min(dim=1, keepdim=True).values, -1.0e9)
            can_improve = can_improve & (best_running > worst_final).any(dim=-1, keepdim=True)
            go_on = (bool(can_improve.any()) and not (bool(is_finished.all()) and early_stopping is True)
                     and not bool(hits.all()))
            if not go_on:
                break
            runner.reorder(beam_idx)
            flat = running[:, :, :cur_len].reshape(batch * nb, cur_len)
            logits = runner.step(flat[:, -1])

    nrs = opts.num_return_sequences
    out = finished[:, :nrs].reshape(batch * nrs, max_length)
    parents = finished_parents[:, :nrs].reshape(batch * nrs, max_new)
    generated = int((parents + 1).bool().sum(dim=1).max()) if max_new > 0 else 0
    return out[:, : prompt_len + generated]


def generate(model: Any, input_ids: Tensor, attention_mask: Tensor | None = None, **kwargs: Any) -> Tensor:
    """Continue ``input_ids`` (B, T): (B · num_return_sequences, T + new) token ids.

    Keywords as in transformers: max_new_tokens (default 20), max_length, do_sample,
    temperature, top_k (50 when sampling), top_p, min_p, repetition_penalty,
    no_repeat_ngram_size, bad_words_ids, num_beams, length_penalty, early_stopping,
    num_return_sequences, eos_token_id, pad_token_id, forced_eos_token_id, max_time,
    stop_strings (with tokenizer=), streamer (put/end, like transformers' TextStreamer),
    logits_processor (extra callables); and seed / generator for reproducible sampling.
    An encoder-decoder gets source ids and returns decoder ids that start with its start token.
    An option not given comes from ``model.generation_config`` (its folder's
    generation_config.json), as in transformers; do_sample=False or num_beams > 1 leaves the
    model's sampling recipe (temperature, top-k/p, penalties) out.
    """
    opts = parse_options(kwargs, getattr(model, "config", None), defaults=getattr(model, "generation_config", None))
    if opts.num_beams > 1:
        return beam_search(model, input_ids, attention_mask, opts)
    loop = DecodeLoop(model, input_ids, attention_mask, opts)
    streamer = opts.streamer
    if streamer is not None:
        streamer.put(loop.sequences.cpu())
    for tokens in loop:
        if streamer is not None:
            streamer.put(tokens.cpu())
    if streamer is not None:
        streamer.end()
    return loop.sequences.clone()
