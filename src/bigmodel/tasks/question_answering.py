"""Extractive question answering: the span of the context that answers a question.

The algorithm of transformers' v4 question-answering pipeline, with its defaults. The input
is "[CLS] question [SEP] context-window [SEP]"; a context longer than ``max_seq_len`` tokens
is cut into windows that overlap by ``doc_stride`` tokens. In each window, with s_i and e_i
the model's start and end logits (T,), positions that cannot be part of an answer (the
question, [SEP], padding) get a logit of -10000, and

    p_start = softmax(s)        p_end = softmax(e)          (over the window, [CLS] included)
    score(i, j) = p_start[i] · p_end[j]        for  i ≤ j < i + max_answer_len

with [CLS]'s probability then set to 0 (it stands for "no answer", which is only offered
with ``handle_impossible_answer=True``). The best spans over all windows win. A span's
token positions become character offsets through the tokenizer's offsets, widened to whole
words, so ``context[start:end] == answer``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..devices import to_device
from ..errors import BigModelError
from ..models.base import BigModel
from .common import get_model_for, get_tokenizer

QA_ARCHITECTURES = ("BertForQuestionAnswering",)
NOT_CONTEXT = -10000.0  # the logit transformers gives positions outside the context


def load_span_model(model: str | Path | BigModel, dtype: str | None = None) -> BigModel:
    """A question-answering model (span start/end head), or one clear error."""
    return get_model_for(model, QA_ARCHITECTURES, 'a question-answering model (BertForQuestionAnswering); '
                         'fine-tune one with [task] kind = "question_answering"', dtype=dtype)


def context_windows(tokenizer: Any, question: str, context: str, max_seq_len: int,
                    doc_stride: int) -> list[Any]:
    """One ``tokenizers.Encoding`` per window: [CLS] question [SEP] window [SEP].

    Consecutive windows share ``doc_stride`` context tokens, as the fast tokenizer's
    ``truncation="only_second", stride=doc_stride, return_overflowing_tokens=True`` makes them.
    """
    backend = getattr(tokenizer, "backend", None)
    if backend is None:
        raise BigModelError("question answering needs a bigmodel Tokenizer (with character offsets)")
    question_enc = backend.encode(question, add_special_tokens=False)
    context_enc = backend.encode(context, add_special_tokens=False)
    if not context_enc.ids:
        raise BigModelError("context: has no tokens the model can point to (nothing but spaces or "
                            "characters the tokenizer drops)")
    if set(context_enc.ids) <= set(tokenizer.all_special_ids):
        raise BigModelError("context: holds only special tokens ([CLS], [SEP] ...), no text an answer "
                            "can come from")
    room = max_seq_len - len(question_enc.ids) - tokenizer.num_special_tokens_to_add(True)
    if room < 1:
        raise BigModelError(f"question: {len(question_enc.ids)} tokens leave no room for the context in "
                            f"max_seq_len={max_seq_len}; shorten the question or raise max_seq_len")
    if doc_stride >= room:
        raise BigModelError(f"doc_stride={doc_stride} must be smaller than the {room} context tokens a "
                            f"window holds (max_seq_len={max_seq_len} minus the question and special "
                            f"tokens)")
    context_enc.truncate(room, stride=doc_stride)
    windows = [context_enc, *context_enc.overflowing]
    return [backend.post_process(question_enc, w, True) for w in windows]


def best_spans(start_logits: torch.Tensor, end_logits: torch.Tensor, allowed: torch.Tensor, *,
               top_k: int, max_answer_len: int,
               handle_impossible_answer: bool = False) -> tuple[list[tuple[int, int, float]], float]:
    """The ``top_k`` (start, end, score) spans of one window, and its [CLS] ("no answer") score.

    start_logits, end_logits: (T,); allowed: (T,) bool, True at context tokens and [CLS].
    """
    start = torch.where(allowed, start_logits.double(), NOT_CONTEXT).softmax(-1)
    end = torch.where(allowed, end_logits.double(), NOT_CONTEXT).softmax(-1)
    null_score = float(start[0] * end[0]) if handle_impossible_answer else 1e6
    start[0] = end[0] = 0.0
    # (T, T): score(i, j) for i ≤ j < i + max_answer_len, 0 elsewhere.
    outer = start[:, None] * end[None, :]
    candidates = torch.triu(outer).tril(max_answer_len - 1)
    flat = candidates.flatten()
    values, index = flat.topk(min(top_k, flat.numel()))
    width = candidates.shape[1]
    spans = []
    for value, i in zip(values.tolist(), index.tolist(), strict=True):
        s, e = divmod(i, width)
        if value > 0 and allowed[s] and allowed[e]:
            spans.append((s, e, value))
    return spans, null_score


def _char_span(encoding: Any, s: int, e: int) -> tuple[int, int]:
    """Character offsets of tokens s..e, widened to the words they fall in (align_to_words)."""
    start_word, end_word = encoding.token_to_word(s), encoding.token_to_word(e)
    if start_word is None or end_word is None:
        return encoding.offsets[s][0], encoding.offsets[e][1]
    return encoding.word_to_chars(start_word, 1)[0], encoding.word_to_chars(end_word, 1)[1]


def _check_text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BigModelError(f"{what} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise BigModelError(f"{what} is empty; give the text to {'answer' if what == 'question' else 'search'}")
    return value


def _check_positive(value: Any, what: str, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise BigModelError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def answer(
    question: str,
    context: str,
    model: str | Path | BigModel,
    *,
    tokenizer: Any = None,
    top_k: int = 1,
    max_seq_len: int = 384,
    doc_stride: int = 128,
    max_answer_len: int = 15,
    handle_impossible_answer: bool = False,
    batch_size: int = 16,
    dtype: str | None = None,
    device: str | torch.device | None = None,
) -> dict[str, Any] | list[dict[str, Any]]:
    """The answer to ``question`` found in ``context``: {"answer", "score", "start", "end"}.

    ``start``/``end`` are character offsets into ``context``. With ``top_k`` > 1, a list of
    up to ``top_k`` such dicts, best first. ``max_seq_len`` is capped at the model's context;
    ``doc_stride`` at half of it (transformers' rule).
    """
    question = _check_text(question, "question")
    context = _check_text(context, "context")
    top_k = _check_positive(top_k, "top_k")
    max_answer_len = _check_positive(max_answer_len, "max_answer_len")
    max_seq_len = _check_positive(max_seq_len, "max_seq_len", 4)
    doc_stride = _check_positive(doc_stride, "doc_stride", 0)
    batch_size = _check_positive(batch_size, "batch_size")
    network = to_device(load_span_model(model, dtype), device)
    tok = get_tokenizer(model if not isinstance(model, BigModel) else network, tokenizer)
    max_seq_len = min(max_seq_len, network.config.max_seq_len)
    doc_stride = min(doc_stride, max_seq_len // 2)
    windows = context_windows(tok, question, context, max_seq_len, doc_stride)

    answers: list[dict[str, Any]] = []
    min_null_score = 1e6
    was_training = network.training
    network.eval()
    try:
        with torch.inference_mode():
            for first in range(0, len(windows), batch_size):
                chunk = windows[first:first + batch_size]
                width = max(len(w.ids) for w in chunk)
                pad = tok.pad_token_id or 0
                ids = torch.full((len(chunk), width), pad, dtype=torch.long)
                types = torch.zeros_like(ids)
                mask = torch.zeros_like(ids)
                for row, w in enumerate(chunk):
                    ids[row, :len(w.ids)] = torch.tensor(w.ids)
                    types[row, :len(w.ids)] = torch.tensor(w.type_ids)
                    mask[row, :len(w.ids)] = 1
                out = network(ids.to(network.device), attention_mask=mask.to(network.device),
                              token_type_ids=types.to(network.device))
                for row, w in enumerate(chunk):
                    allowed = torch.zeros(width, dtype=torch.bool)
                    allowed[:len(w.ids)] = torch.tensor([sid == 1 for sid in w.sequence_ids])
                    allowed[:len(w.ids)] |= torch.tensor(w.ids) == tok.cls_token_id
                    spans, null = best_spans(out.start_logits[row].float().cpu(),
                                             out.end_logits[row].float().cpu(), allowed, top_k=top_k,
                                             max_answer_len=max_answer_len,
                                             handle_impossible_answer=handle_impossible_answer)
                    min_null_score = min(min_null_score, null)
                    for s, e, score in spans:
                        start, end = _char_span(w, s, e)
                        answers.append({"answer": context[start:end], "score": score, "start": start,
                                        "end": end})
    finally:
        network.train(was_training)
    if handle_impossible_answer:
        answers.append({"answer": "", "score": min_null_score, "start": 0, "end": 0})
    if not answers:
        raise BigModelError("context: no span of it can be an answer (no context token fits a window)")
    answers = sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]
    return answers[0] if top_k == 1 else answers


__all__ = ["answer", "best_spans", "context_windows", "load_span_model"]
