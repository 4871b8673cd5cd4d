"""Log probabilities in OpenAI's two shapes: the model's own distribution at each token.

    logp(x_t) = log_softmax(z_{t-1})[x_t]       z: (T, V) raw logits of one forward pass over
                                                x_0 .. x_{T-1}; x_0 has no logprob (None)

Raw logits means before the sampler (repetition penalty, temperature, top-k, top-p): the
numbers are the model's distribution, the same whatever sampling settings a request used,
which is what evaluation harnesses score with. The decode loop keeps only the last
position's logits, so a request with ``logprobs`` (or ``echo``) costs one more forward pass
over prompt + completion per choice, run in a worker thread.

Shapes (see :func:`completion_logprobs` and :func:`chat_logprobs`)::

    completions  {"tokens": [str], "token_logprobs": [float|None], "top_logprobs": [{str: float}|None],
                  "text_offset": [int]}
    chat         {"content": [{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob",
                  "bytes"}]}], "refusal": None}

A token's string is ``tokenizer.decode([id])`` (special tokens by name, so an EOS shows as
``<|endoftext|>``); a token holding part of a character shows U+FFFD. ``text_offset`` is where
the token's text starts in the returned text, counted by the streamed text pieces (which never
split a character), so offsets always index the returned string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..decoding.streaming import TextDeltas

ROWS_PER_CHUNK = 256  # log_softmax over (rows, V) float32 at a time: ~50 MB for GPT-2's vocabulary


@dataclass
class ScoredToken:
    """One token with its logprob and the ``top`` most likely tokens at its position."""

    id: int
    logprob: float | None  # None for the first token of a sequence (nothing precedes it)
    top: list[tuple[int, float]] = field(default_factory=list)  # (id, logprob), most likely first


def score_tokens(model: Any, ids: list[int], top_n: int) -> list[ScoredToken]:
    """Each token of ``ids`` scored by the model given the tokens before it."""
    with torch.inference_mode():
        x = torch.tensor([ids], dtype=torch.long, device=model.device)
        logits = model(x).logits[0]  # (T, V)
        scored = [ScoredToken(ids[0], None)]
        for start in range(0, len(ids) - 1, ROWS_PER_CHUNK):
            stop = min(start + ROWS_PER_CHUNK, len(ids) - 1)
            logp = torch.log_softmax(logits[start:stop].float(), dim=-1)  # (rows, V)
            targets = x[0, start + 1: stop + 1]
            chosen = logp.gather(1, targets[:, None])[:, 0].tolist()
            if top_n > 0:
                values, indices = logp.topk(min(top_n, logp.shape[-1]), dim=-1)
                tops = [list(zip(i, v, strict=True)) for i, v in zip(indices.tolist(), values.tolist(),
                                                                      strict=True)]
            else:
                tops = [[] for _ in chosen]
            for t, lp, top in zip(targets.tolist(), chosen, tops, strict=True):
                scored.append(ScoredToken(t, lp, top))
    return scored


def text_pieces(tokenizer: Any, ids: list[int], skip_special_tokens: bool = True) -> list[str]:
    """The text each token adds (a split character goes to the token that completes it);
    the pieces concatenate to the decoded text."""
    deltas = TextDeltas(tokenizer, skip_special_tokens)
    pieces = [deltas.push(i) for i in ids]
    tail = deltas.flush()
    if tail and pieces:
        pieces[-1] += tail
    return pieces


def tokens_in_text(pieces: list[str], text: str) -> int:
    """How many of the generated tokens the returned text shows: all of them (EOS included),
    unless a stop string cut the text, then those up to the cut."""
    if len(text) >= sum(len(p) for p in pieces):
        return len(pieces)
    covered = 0
    for n, piece in enumerate(pieces):
        if covered >= len(text):
            return n
        covered += len(piece)
    return len(pieces)


class TokenNames:
    """``decode([id])`` per id, cached (a request asks for the same alternatives often)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.names: dict[int, str] = {}

    def __call__(self, token_id: int) -> str:
        name = self.names.get(token_id)
        if name is None:
            name = self.names[token_id] = self.tokenizer.decode([token_id])
        return name


def completion_logprobs(names: TokenNames, scored: list[ScoredToken], pieces: list[str],
                        start_offset: int = 0) -> dict[str, list[Any]]:
    """The legacy completions shape for ``scored`` tokens whose text starts at ``start_offset``.

    ``top_logprobs`` holds the requested number of most likely tokens plus the chosen one
    (so up to logprobs + 1 entries, as OpenAI documents); None where the logprob is None.
    """
    out: dict[str, list[Any]] = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
    offset = start_offset
    for token, piece in zip(scored, pieces, strict=True):
        out["tokens"].append(names(token.id))
        out["token_logprobs"].append(token.logprob)
        if token.logprob is None:
            out["top_logprobs"].append(None)
        else:
            top: dict[str, float] = {}
            for i, lp in [*token.top, (token.id, token.logprob)]:
                name = names(i)
                top[name] = max(lp, top.get(name, lp))  # two ids may decode alike
            out["top_logprobs"].append(top)
        out["text_offset"].append(offset)
        offset += len(piece)
    return out


def merge_completion_logprobs(first: dict[str, list[Any]], second: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {key: first[key] + second[key] for key in first}


def chat_logprobs(names: TokenNames, scored: list[ScoredToken]) -> dict[str, Any]:
    """The chat shape: each generated token with its ``top_logprobs`` alternatives."""

    def entry(token_id: int, logprob: float) -> dict[str, Any]:
        name = names(token_id)
        return {"token": name, "logprob": logprob, "bytes": list(name.encode("utf-8"))}

    content = []
    for token in scored:
        assert token.logprob is not None
        content.append({**entry(token.id, token.logprob),
                        "top_logprobs": [entry(i, lp) for i, lp in token.top]})
    return {"content": content, "refusal": None}


def echo_text(tokenizer: Any, prompt: str | list[int], ids: list[int]) -> str:
    """The prompt as ``echo`` shows it: the text as sent, or the decoded token ids."""
    return prompt if isinstance(prompt, str) else tokenizer.decode(ids)


def completion_choice(model: Any, tokenizer: Any, prompt: str | list[int], prompt_ids: list[int], text: str,
                      generated: list[int], *, logprobs: int | None, echo: bool,
                      names: TokenNames | None = None) -> tuple[str, dict[str, list[Any]] | None]:
    """One completions choice's text (the prompt first with ``echo``) and its legacy logprobs."""
    shown = echo_text(tokenizer, prompt, prompt_ids) if echo else ""
    if logprobs is None:
        return shown + text, None
    names = names or TokenNames(tokenizer)
    pieces = text_pieces(tokenizer, generated)
    kept = tokens_in_text(pieces, text)
    scored = score_tokens(model, prompt_ids + generated[:kept], logprobs)
    out = completion_logprobs(names, scored[len(prompt_ids):], pieces[:kept], len(shown))
    if echo:
        skip = isinstance(prompt, str)  # a text prompt shows no BOS; decoded ids show every token
        prompt_part = completion_logprobs(names, scored[: len(prompt_ids)],
                                          text_pieces(tokenizer, prompt_ids, skip_special_tokens=skip))
        out = merge_completion_logprobs(prompt_part, out)
    return shown + text, out


def chat_choice(model: Any, tokenizer: Any, prompt_ids: list[int], text: str, generated: list[int],
                top_n: int, names: TokenNames | None = None) -> dict[str, Any]:
    """One chat choice's logprobs: the tokens of its reply (no EOS, nothing past a stop string)."""
    names = names or TokenNames(tokenizer)
    pieces = text_pieces(tokenizer, generated)
    kept = tokens_in_text(pieces, text)
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    while kept and generated[kept - 1] in special:
        kept -= 1
    scored = score_tokens(model, prompt_ids + generated[:kept], top_n)
    return chat_logprobs(names, scored[len(prompt_ids):])
