"""Token classification (named entities): a label for every token, grouped into entities.

For token i with logits z_i (num_labels,), p_i = softmax(z_i), label_i = argmax p_i and
score_i = max p_i. ``aggregation="none"`` returns one entry per token whose label is not
"O". ``aggregation="simple"`` (transformers' token-classification pipeline's default for
NER) groups adjacent tokens into entities with BIO tags: a token joins the entity before it
when it has the same type and is not a B- tag; an entity's score is the mean of its tokens'
scores, its ``word`` the tokens joined back into text, ``start``/``end`` the character
offsets of its first and last token. Entities labelled "O" are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..devices import to_device
from ..errors import BigModelError
from ..models.base import BigModel
from .common import get_model_for, get_tokenizer

TAGGER_ARCHITECTURES = ("BertForTokenClassification",)
AGGREGATIONS = ("simple", "none")


def load_tagger(model: str | Path | BigModel, dtype: str | None = None) -> BigModel:
    """A token-classification model, or one clear error."""
    return get_model_for(model, TAGGER_ARCHITECTURES, 'a token classifier (BertForTokenClassification); '
                         'fine-tune one with [task] kind = "token_classification"', dtype=dtype)


def split_tag(label: str) -> tuple[str, str]:
    """("B" | "I", entity type); a label without a B-/I- prefix continues ("I") its type."""
    if label.startswith(("B-", "I-")):
        return label[0], label[2:]
    return "I", label


def group_entities(tokens: list[dict[str, Any]], join: Any) -> list[dict[str, Any]]:
    """transformers' "simple" grouping of per-token predictions into entity groups."""
    groups: list[list[dict[str, Any]]] = []
    for token in tokens:
        if groups:
            bi, kind = split_tag(token["entity"])
            _, last_kind = split_tag(groups[-1][-1]["entity"])
            if kind == last_kind and bi != "B":
                groups[-1].append(token)
                continue
        groups.append([token])
    return [{
        "entity_group": group[0]["entity"].split("-", 1)[-1],
        "score": sum(t["score"] for t in group) / len(group),
        "word": join([t["word"] for t in group]),
        "start": group[0]["start"],
        "end": group[-1]["end"],
    } for group in groups]


def _encode(tokenizer: Any, text: str, limit: int) -> Any:
    backend = getattr(tokenizer, "backend", None)
    if backend is None:
        raise BigModelError("tagging needs a bigmodel Tokenizer (with character offsets)")
    encoding = backend.encode(text, add_special_tokens=True)
    if len(encoding.ids) > limit:
        bare = backend.encode(text, add_special_tokens=False)
        bare.truncate(limit - tokenizer.num_special_tokens_to_add(False))
        encoding = backend.post_process(bare, None, True)
    return encoding


def token_predictions(network: BigModel, tokenizer: Any, text: str) -> list[dict[str, Any]]:
    """Every non-special token: {"entity", "score", "index", "word", "start", "end"}."""
    encoding = _encode(tokenizer, text, network.config.max_seq_len)
    ids = torch.tensor([encoding.ids])
    kwargs: dict[str, Any] = {"attention_mask": torch.ones_like(ids).to(network.device),
                              "token_type_ids": torch.tensor([encoding.type_ids]).to(network.device)}
    was_training = network.training
    network.eval()
    try:
        with torch.inference_mode():
            logits = network(ids.to(network.device), **kwargs).logits[0].float().cpu()
    finally:
        network.train(was_training)
    probs = logits.softmax(-1)
    scores, labels = probs.max(-1)
    id2label = network.config.id2label or {}
    out = []
    for i, (token_id, token) in enumerate(zip(encoding.ids, encoding.tokens, strict=True)):
        if encoding.special_tokens_mask[i]:
            continue
        start, end = encoding.offsets[i]
        word = text[start:end] if token_id == tokenizer.unk_token_id else token
        label = int(labels[i])
        out.append({"entity": str(id2label.get(label, f"LABEL_{label}")), "score": float(scores[i]),
                    "index": i, "word": word, "start": start, "end": end})
    return out


def _joiner(tokenizer: Any) -> Any:
    decoder = tokenizer.backend.decoder
    if decoder is None:
        return lambda pieces: " ".join(pieces)
    return decoder.decode


def tag(
    text: str | Sequence[str],
    model: str | Path | BigModel,
    *,
    tokenizer: Any = None,
    aggregation: str = "simple",
    ignore_labels: Sequence[str] = ("O",),
    dtype: str | None = None,
    device: str | torch.device | None = None,
) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
    """The entities in ``text``: [{"entity_group", "score", "word", "start", "end"}, ...].

    ``aggregation="none"`` gives one {"entity", "score", "index", "word", "start", "end"} per
    token instead. A list of texts gives a list of such lists. Texts longer than the model's
    context are cut to it.
    """
    single = isinstance(text, str)
    texts = [text] if single else list(text) if isinstance(text, (list, tuple)) else None
    if texts is None or not all(isinstance(t, str) for t in texts):
        raise BigModelError("text must be a string or a list of strings")
    for i, t in enumerate(texts):
        if not t.strip():
            raise BigModelError("text is empty; give a sentence to tag" if single else
                                f"text {i} is empty; give non-empty texts")
    if aggregation not in AGGREGATIONS:
        raise BigModelError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
    network = to_device(load_tagger(model, dtype), device)
    tok = get_tokenizer(model if not isinstance(model, BigModel) else network, tokenizer)
    ignored = set(ignore_labels)
    results = []
    for t in texts:
        tokens = token_predictions(network, tok, t)
        if aggregation == "none":
            entities = [e for e in tokens if e["entity"] not in ignored]
        else:
            entities = [e for e in group_entities(tokens, _joiner(tok)) if e["entity_group"] not in ignored]
        results.append(entities)
    return results[0] if single else results


__all__ = ["group_entities", "load_tagger", "split_tag", "tag", "token_predictions"]
