"""Logits processors: one rule each, applied to the next-token scores before choosing.

Every processor is called as ``processor(input_ids, scores) -> scores`` with
input_ids (N, T) the tokens so far and scores (N, V) the next-token logits (or, in beam
search, log-probabilities). The rules and their equations:

    temperature          s / τ                                   (τ > 0; τ < 1 sharpens)
    top-k                keep the k largest s, the rest -> -inf
    top-p (nucleus)      keep the smallest set whose softmax mass reaches p
    min-p                keep tokens with p_i ≥ min_p · max_j p_j
    repetition penalty   for tokens already seen: s / θ if s > 0 else s · θ   (CTRL, θ > 1)
    no-repeat n-gram     forbid a token that would complete an n-gram already present
    bad words            forbid a token that would complete a listed token sequence
    forced EOS           at the last allowed position, only EOS remains possible

They match the transformers processors of the same names score for score, so that
sampling and search here choose the same tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "ForcedEOSTokenLogitsProcessor",
    "LogitsProcessor",
    "MinNewTokensLengthLogitsProcessor",
    "MinPLogitsWarper",
    "NoBadWordsLogitsProcessor",
    "NoRepeatNGramLogitsProcessor",
    "RepetitionPenaltyLogitsProcessor",
    "TemperatureLogitsWarper",
    "TopKLogitsWarper",
    "TopPLogitsWarper",
    "apply_processors",
    "build_processors",
]

NEG_INF = float("-inf")


class LogitsProcessor:
    """A rule that rewrites next-token scores (N, V) given the tokens so far (N, T)."""

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        raise NotImplementedError


class TemperatureLogitsWarper(LogitsProcessor):
    """s / τ: τ < 1 makes the distribution peakier, τ > 1 flatter."""

    def __init__(self, temperature: float) -> None:
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        return scores / self.temperature


class TopKLogitsWarper(LogitsProcessor):
    """Keep the k highest scores (ties with the k-th included); the rest become -inf."""

    def __init__(self, top_k: int, min_tokens_to_keep: int = 1) -> None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        self.top_k = max(int(top_k), min_tokens_to_keep)

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        k = min(self.top_k, scores.shape[-1])
        kth_best = torch.topk(scores, k).values[..., -1:]  # (N, 1)
        return scores.masked_fill(scores < kth_best, NEG_INF)


class TopPLogitsWarper(LogitsProcessor):
    """Nucleus sampling: sort ascending, drop tokens while the cumulative mass ≤ 1 - p."""

    def __init__(self, top_p: float, min_tokens_to_keep: int = 1) -> None:
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        self.top_p = float(top_p)
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        sorted_scores, order = torch.sort(scores, descending=False)
        mass_below = sorted_scores.softmax(dim=-1).cumsum(dim=-1)  # (N, V), ascending
        drop_sorted = mass_below <= (1 - self.top_p)
        drop_sorted[..., -self.min_tokens_to_keep:] = False
        drop = drop_sorted.scatter(1, order, drop_sorted)
        return scores.masked_fill(drop, NEG_INF)


class MinPLogitsWarper(LogitsProcessor):
    """Keep tokens whose probability is at least ``min_p`` times the top token's."""

    def __init__(self, min_p: float, min_tokens_to_keep: int = 1) -> None:
        if not 0.0 <= min_p <= 1.0:
            raise ValueError(f"min_p must be in [0, 1], got {min_p}")
        self.min_p = float(min_p)
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        probs = torch.softmax(scores, dim=-1)
        threshold = self.min_p * probs.amax(dim=-1, keepdim=True)  # (N, 1)
        drop = probs < threshold
        k = min(self.min_tokens_to_keep, probs.shape[-1])
        drop.scatter_(-1, torch.topk(probs, k, dim=-1).indices, False)
        return scores.masked_fill(drop, NEG_INF)


class RepetitionPenaltyLogitsProcessor(LogitsProcessor):
    """CTRL's penalty θ on every token already in the sequence: s/θ if s > 0, s·θ otherwise.

    ``ignore_before`` (N,) skips the first positions of each row (its left padding).
    """

    def __init__(self, penalty: float, ignore_before: Tensor | None = None) -> None:
        if not penalty > 0:
            raise ValueError(f"repetition_penalty must be > 0, got {penalty}")
        self.penalty = float(penalty)
        self.ignore_before = ignore_before

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        vocab = scores.shape[-1]
        if self.ignore_before is not None:
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
            # Ignored positions point at a spare column past the vocabulary.
            input_ids = input_ids.masked_fill(positions[None, :] < self.ignore_before[:, None], vocab)
        input_ids = input_ids.clamp(max=vocab)
        padded = torch.nn.functional.pad(scores, (0, 1))  # (N, V + 1)
        seen = torch.gather(padded, 1, input_ids)
        seen = torch.where(seen < 0, seen * self.penalty, seen / self.penalty)
        return padded.scatter(1, input_ids, seen)[..., :vocab]


class NoRepeatNGramLogitsProcessor(LogitsProcessor):
    """Forbid any token that would repeat an n-gram of the sequence so far.

    The next token completes the n-gram (last n-1 tokens, token); every earlier window whose
    first n-1 tokens equal that suffix bans its own last token.
    """

    def __init__(self, ngram_size: int) -> None:
        if ngram_size < 1:
            raise ValueError(f"no_repeat_ngram_size must be >= 1, got {ngram_size}")
        self.n = int(ngram_size)

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        cur_len = input_ids.shape[-1]
        if cur_len < self.n:
            return scores
        suffix = input_ids[:, cur_len + 1 - self.n:]  # (N, n-1)
        windows = input_ids.unfold(1, self.n, 1)  # (N, T-n+1, n)
        matches = (windows[..., :-1] == suffix.unsqueeze(1)).all(dim=-1)  # (N, T-n+1)
        vocab = scores.shape[-1]
        banned = scores.new_zeros((scores.shape[0], vocab + 1), dtype=torch.bool)
        targets = torch.where(matches, windows[..., -1].clamp(max=vocab), vocab)
        banned.scatter_(1, targets, True)
        return scores.masked_fill(banned[:, :vocab], NEG_INF)


class NoBadWordsLogitsProcessor(LogitsProcessor):
    """Forbid listed token sequences: a one-token entry always, a longer one when the
    sequence so far ends with all but its last token. A lone EOS entry is ignored (EOS must
    stay possible)."""

    def __init__(self, bad_words_ids: Sequence[Sequence[int]], eos_token_id: int | Sequence[int] | None = None) -> None:
        if not bad_words_ids or any(len(w) == 0 for w in bad_words_ids):
            raise ValueError("bad_words_ids must be a non-empty list of non-empty token id lists")
        eos = [] if eos_token_id is None else ([eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id))
        words = [list(map(int, w)) for w in bad_words_ids if not (len(w) == 1 and int(w[0]) in eos)]
        self.single = sorted({w[0] for w in words if len(w) == 1})
        by_prefix_len: dict[int, list[list[int]]] = {}
        for w in words:
            if len(w) > 1:
                by_prefix_len.setdefault(len(w) - 1, []).append(w)
        self.groups = [
            (torch.tensor([w[:-1] for w in group]), torch.tensor([w[-1] for w in group]))
            for group in by_prefix_len.values()
        ]

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        vocab = scores.shape[-1]
        out_of_range = [t for t in self.single if t >= vocab]
        out_of_range += [int(t) for _, last in self.groups for t in last if t >= vocab]
        if out_of_range:
            raise ValueError(f"bad_words_ids has token ids {out_of_range} outside the vocabulary of {vocab}")
        banned = torch.zeros_like(scores, dtype=torch.bool)
        if self.single:
            banned[:, self.single] = True
        for prefixes, last in self.groups:
            plen = prefixes.shape[1]
            if plen > input_ids.shape[1]:
                continue
            prefixes = prefixes.to(input_ids.device)
            hit = (input_ids[:, None, -plen:] == prefixes).all(dim=-1)  # (N, n_words)
            rows, words = hit.nonzero(as_tuple=True)
            banned[rows, last.to(input_ids.device)[words]] = True
        return scores.masked_fill(banned, NEG_INF)


class ForcedEOSTokenLogitsProcessor(LogitsProcessor):
    """When the next token is the last one allowed (length ``max_length``), only EOS."""

    def __init__(self, max_length: int, eos_token_id: int | Sequence[int]) -> None:
        self.max_length = int(max_length)
        self.eos = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        if input_ids.shape[-1] != self.max_length - 1:
            return scores
        forced = torch.full_like(scores, NEG_INF)
        forced[:, self.eos] = 0
        return forced


class MinNewTokensLengthLogitsProcessor(LogitsProcessor):
    """EOS is not allowed until ``min_new_tokens`` tokens follow the ``prompt_length`` given."""

    def __init__(self, prompt_length: int, min_new_tokens: int, eos_token_id: int | Sequence[int]) -> None:
        self.prompt_length = int(prompt_length)
        self.min_new_tokens = int(min_new_tokens)
        self.eos = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        if input_ids.shape[-1] - self.prompt_length >= self.min_new_tokens:
            return scores
        scores = scores.clone()
        scores[:, self.eos] = NEG_INF
        return scores


def build_processors(
    *,
    do_sample: bool = False,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    min_p: float | None = None,
    repetition_penalty: float | None = None,
    no_repeat_ngram_size: int | None = None,
    bad_words_ids: Sequence[Sequence[int]] | None = None,
    forced_eos_token_id: int | Sequence[int] | None = None,
    max_length: int | None = None,
    eos_token_id: int | Sequence[int] | None = None,
    padding_lengths: Tensor | None = None,
    min_tokens_to_keep: int = 1,
    min_new_tokens: int | None = None,
    prompt_length: int | None = None,
) -> list[LogitsProcessor]:
    """The processors a set of options asks for, in transformers' order: the rules that
    forbid or penalize first, then (sampling only) temperature, top-k, top-p, min-p."""
    rules: list[LogitsProcessor] = []
    if min_new_tokens and prompt_length is not None and eos_token_id is not None:
        rules.append(MinNewTokensLengthLogitsProcessor(prompt_length, min_new_tokens, eos_token_id))
    if repetition_penalty is not None and repetition_penalty != 1.0:
        rules.append(RepetitionPenaltyLogitsProcessor(repetition_penalty, padding_lengths))
    if no_repeat_ngram_size:
        rules.append(NoRepeatNGramLogitsProcessor(no_repeat_ngram_size))
    if bad_words_ids:
        rules.append(NoBadWordsLogitsProcessor(bad_words_ids, eos_token_id))
    if forced_eos_token_id is not None and max_length is not None:
        rules.append(ForcedEOSTokenLogitsProcessor(max_length, forced_eos_token_id))
    if do_sample:
        rules += _warpers(temperature, top_k, top_p, min_p, min_tokens_to_keep)
    return rules


def _warpers(temperature: float | None, top_k: int | None, top_p: float | None, min_p: float | None,
             min_tokens_to_keep: int) -> list[LogitsProcessor]:
    """Sampling's reshaping of the distribution: temperature, then top-k, top-p, min-p."""
    warpers: list[LogitsProcessor] = []
    if temperature is not None and temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(temperature))
    if top_k:
        warpers.append(TopKLogitsWarper(top_k, min_tokens_to_keep))
    if top_p is not None and top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p, min_tokens_to_keep))
    if min_p is not None:
        warpers.append(MinPLogitsWarper(min_p, min_tokens_to_keep))
    return warpers


def apply_processors(processors: Sequence[LogitsProcessor], input_ids: Tensor, scores: Tensor) -> Tensor:
    for processor in processors:
        scores = processor(input_ids, scores)
    return scores
