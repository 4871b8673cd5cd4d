"""Metrics of the span tasks, written out: SQuAD's exact match and F1, seqeval's entity F1.

Question answering (the official SQuAD v1.1 script). An answer is normalized: lowercased,
punctuation removed, the articles "a", "an", "the" removed, whitespace collapsed. Then

    EM = [norm(prediction) == norm(gold)]
    F1 = 2·P·R / (P + R),  P = |common| / |prediction tokens|,  R = |common| / |gold tokens|

with ``common`` the multiset intersection of the two token lists. A question with several
gold answers takes the best over them; the figures are averaged over questions, × 100.

Named entities (seqeval, default mode). A tag sequence in BIO form becomes a set of
entities (type, first token, last token): an entity starts at a B- tag, or at an I- tag
after O or after a tag of another type, and ends before the next tag that does not
continue it. Over all sentences, with T the true and P the predicted entities:

    precision = |T ∩ P| / |P|      recall = |T ∩ P| / |T|      F1 = 2·p·r / (p + r)

A ratio whose denominator is 0 is 0.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's normalization: lower, strip punctuation, drop articles, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    predicted, true = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(predicted) & Counter(true)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(true)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: Sequence[str], golds: Sequence[Sequence[str]]) -> dict[str, float]:
    """{"exact_match", "f1"} in percent; ``golds[i]`` are question i's accepted answers."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} questions")
    if not predictions:
        return {"exact_match": 0.0, "f1": 0.0}
    em = sum(max(exact_match(p, g) for g in gold) for p, gold in zip(predictions, golds, strict=True))
    f1 = sum(max(token_f1(p, g) for g in gold) for p, gold in zip(predictions, golds, strict=True))
    return {"exact_match": 100.0 * em / len(predictions), "f1": 100.0 * f1 / len(predictions)}


def _parts(tag: str) -> tuple[str, str]:
    """("B" | "I" | "O" | ..., type): "B-PER" -> ("B", "PER"); "O" -> ("O", "_")."""
    return tag[0], tag[1:].split("-", maxsplit=1)[-1] or "_"


def _ends(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (prev_tag in ("E", "S")
            or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
            or (prev_tag not in ("O", ".") and prev_type != type_))


def _starts(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (tag in ("B", "S")
            or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
            or (tag not in ("O", ".") and prev_type != type_))


def bio_entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The entities (type, first, last token) of one sentence's tags, as seqeval reads them."""
    entities = []
    prev_tag, prev_type, begin = "O", "", 0
    for i, label in enumerate([*tags, "O"]):
        tag, type_ = _parts(label)
        if _ends(prev_tag, tag, prev_type, type_):
            entities.append((prev_type, begin, i - 1))
        if _starts(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return entities


def entity_scores(true: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro {"precision", "recall", "f1"} over entities (fractions in 0..1), seqeval's default."""
    if len(true) != len(predicted):
        raise ValueError(f"{len(predicted)} predicted sentences for {len(true)} true ones")
    gold: set[tuple[int, str, int, int]] = set()
    found: set[tuple[int, str, int, int]] = set()
    for n, (t, p) in enumerate(zip(true, predicted, strict=True)):
        if len(t) != len(p):
            raise ValueError(f"sentence {n}: {len(p)} predicted tags for {len(t)} tokens")
        gold |= {(n, *e) for e in bio_entities(t)}
        found |= {(n, *e) for e in bio_entities(p)}
    hits = len(gold & found)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


__all__ = ["bio_entities", "entity_scores", "exact_match", "normalize_answer", "squad_scores", "token_f1"]
