"""Scoring the span tasks on labelled files: SQuAD exact match / F1, CoNLL entity F1.

``bigmodel eval --model runs/qa --data dev.json`` answers every question of a SQuAD-format
file; ``bigmodel eval --model runs/ner --data dev.conll`` tags every sentence of a CoNLL-style
file (a word's tag = the argmax at its first sub-token). The metric definitions are in
:mod:`bigmodel.span_metrics`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..models.base import BigModel
from .common import get_model, get_tokenizer

IGNORE = -100


def encode_words(tokenizer: Any, words: list[str], seq_len: int) -> Any:
    """[CLS] sub-tokens of ``words`` [SEP], cut to ``seq_len``; ``word_ids`` map tokens to words."""
    backend = tokenizer.backend
    bare = backend.encode(words, is_pretokenized=True, add_special_tokens=False)
    bare.truncate(max(1, seq_len - tokenizer.num_special_tokens_to_add(False)))
    return backend.post_process(bare, None, True)


def first_subtoken_labels(word_ids: list[int | None], word_labels: list[int]) -> list[int]:
    """A word's label at its first sub-token, -100 everywhere else (special tokens included)."""
    out, previous = [], None
    for word in word_ids:
        out.append(word_labels[word] if word is not None and word != previous else IGNORE)
        previous = word
    return out


def word_tags(network: BigModel, tokenizer: Any, words: list[str], seq_len: int | None = None) -> list[str]:
    """A tag per word: the argmax at its first sub-token ("O" for a word cut off or empty)."""
    encoding = encode_words(tokenizer, words, seq_len or network.config.max_seq_len)
    was_training = network.training
    network.eval()
    try:
        with torch.inference_mode():
            logits = network(torch.tensor([encoding.ids], device=network.device)).logits[0]
    finally:
        network.train(was_training)
    best = logits.argmax(-1).tolist()
    id2label = network.config.id2label or {}
    tags = ["O"] * len(words)
    for i, word in enumerate(first_subtoken_labels(encoding.word_ids, list(range(len(words))))):
        if word != IGNORE:
            tags[word] = str(id2label.get(best[i], f"LABEL_{best[i]}"))
    return tags


def evaluate_answers(model: str | Path | BigModel, data: str | Path, *, tokenizer: Any = None,
                     **answer_options: Any) -> dict[str, Any]:
    """{"questions", "exact_match", "f1"} (percent) of a QA model on a SQuAD-format file."""
    from ..data.squad import read_squad
    from ..span_metrics import squad_scores
    from .question_answering import answer, load_span_model

    network = load_span_model(model)
    tok = get_tokenizer(model if not isinstance(model, BigModel) else network, tokenizer)
    examples = read_squad(data)
    predictions = [answer(e.question, e.context, network, tokenizer=tok, **answer_options)["answer"]
                   for e in examples]
    scores = squad_scores(predictions, [[text for text, _ in e.answers] for e in examples])
    return {"questions": len(examples)} | scores


def evaluate_tags(model: str | Path | BigModel, data: str | Path, *, tokenizer: Any = None) -> dict[str, Any]:
    """{"sentences", "precision", "recall", "f1"} (entity level) of a tagger on a CoNLL-style file."""
    from ..data.conll import read_conll
    from ..span_metrics import entity_scores
    from .token_classification import load_tagger

    network = load_tagger(model)
    tok = get_tokenizer(model if not isinstance(model, BigModel) else network, tokenizer)
    sentences = read_conll(data)
    predicted = [word_tags(network, tok, s.tokens) for s in sentences]
    return {"sentences": len(sentences)} | entity_scores([s.tags for s in sentences], predicted)


def evaluate_span_task(model: str | Path, data: str | Path) -> dict[str, Any] | None:
    """The report for a QA or NER model; None for any other model."""
    architecture = get_model(model).architecture
    if architecture == "BertForQuestionAnswering":
        return {"task": "question_answering"} | evaluate_answers(model, data)
    if architecture == "BertForTokenClassification":
        return {"task": "token_classification"} | evaluate_tags(model, data)
    return None


def format_span_report(report: dict[str, Any]) -> str:
    if report["task"] == "question_answering":
        return (f"{report['questions']} questions: exact match {report['exact_match']:.2f}, "
                f"F1 {report['f1']:.2f}")
    return (f"{report['sentences']} sentences: entity precision {report['precision']:.4f}, "
            f"recall {report['recall']:.4f}, F1 {report['f1']:.4f}")


__all__ = ["encode_words", "evaluate_answers", "evaluate_span_task", "evaluate_tags", "first_subtoken_labels",
           "format_span_report", "word_tags"]
