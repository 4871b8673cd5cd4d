"""Fill-mask: BERT's pre-training task as a tool.

For each [MASK] position i, the MLM head gives p(token | context) = softmax(logits_i); the
answer is the top-k tokens with their probabilities. Several masks are predicted
independently (each sees the others as [MASK]), as in transformers' fill-mask pipeline,
whose output format this follows: ``{"score", "token", "token_str", "sequence"}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..devices import to_device
from ..errors import BigModelError
from ..models.base import BigModel
from .common import get_model, get_tokenizer

DEFAULT_MODEL = "tiny-bert-en"  # shipped, so it works offline; "bert-base-uncased" is the hub one
Prediction = dict[str, Any]


def _masked_lm(model: str | Path | BigModel) -> BigModel:
    if isinstance(model, BigModel):
        lm = model
    else:
        lm = get_model(model, architecture="BertForMaskedLM")
    if not hasattr(lm, "mlm_head"):
        raise BigModelError(f"fill-mask needs a BERT model with an MLM head, got {type(lm).__name__}")
    return lm


def fill_mask(
    text: str | list[str],
    model: str | Path | BigModel = DEFAULT_MODEL,
    tokenizer: Any = None,
    *,
    top_k: int = 5,
    device: str | torch.device | None = None,
) -> list[Prediction] | list[list[Prediction]] | list[Any]:
    """Top-k fillers for each mask token in ``text``.

    One text with one mask: a list of k predictions, best first. One text with several
    masks: one such list per mask. A list of texts: one of the above per text. ``device``:
    cpu, cuda, mps or auto (see bigmodel.devices).
    """
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise BigModelError(f"top_k must be a positive integer, got {top_k!r}")
    lm = to_device(_masked_lm(model), device)
    tok = get_tokenizer(model if not isinstance(model, BigModel) else lm, tokenizer)
    if tok.mask_token_id is None:
        raise BigModelError("this tokenizer has no mask token; fill-mask needs a BERT-style tokenizer")
    texts = [text] if isinstance(text, str) else list(text)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise BigModelError("text must be a string or a non-empty list of strings")
    limit = lm.config.max_seq_len
    enc = tok(texts, padding=True, truncation=True, max_length=limit)
    ids = enc["input_ids"]
    for i, t in enumerate(texts):
        if not bool((ids[i] == tok.mask_token_id).any()):
            where = f"text {i + 1} of {len(texts)}" if len(texts) > 1 else "the text"
            shown = repr(t) if len(t) <= 60 else f"{t[:30]!r}...{t[-20:]!r} ({len(t):,} characters)"
            if tok.mask_token in t:
                raise BigModelError(f"{where} {shown}: its {tok.mask_token} lies beyond the model's "
                                    f"{limit} tokens and was cut off; shorten the text before the mask")
            raise BigModelError(f"{where} {shown} has no {tok.mask_token} token to fill")
    top_k = min(top_k, lm.config.vocab_size)
    device = lm.device
    with torch.inference_mode():
        logits = lm(ids.to(device), enc["attention_mask"].to(device),
                    enc.get("token_type_ids").to(device) if enc.get("token_type_ids") is not None else None).logits
    results: list[Any] = []
    for i in range(len(texts)):
        row = ids[i][enc["attention_mask"][i].bool()]
        positions = (row == tok.mask_token_id).nonzero().flatten().tolist()
        per_mask = []
        for pos in positions:
            probs = logits[i, pos].float().softmax(-1)
            values, indices = probs.topk(top_k)
            predictions = []
            for p, token in zip(values.tolist(), indices.tolist(), strict=True):
                filled = row.clone()
                filled[pos] = token
                predictions.append({
                    "score": p,
                    "token": token,
                    "token_str": tok.decode([token]),
                    "sequence": tok.decode(filled.tolist(), skip_special_tokens=True),
                })
            per_mask.append(predictions)
        results.append(per_mask[0] if len(per_mask) == 1 else per_mask)
    return results[0] if isinstance(text, str) else results
