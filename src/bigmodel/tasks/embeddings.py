"""Sentence embeddings: the sentence-transformers recipe for all-MiniLM-L6-v2.

    e = normalize( Σ_t m_t h_t / Σ_t m_t )        h_t: (d_model,) last layer, m_t: 1 = token, 0 = pad

Mean pooling over real tokens, then L2 normalization, so that the dot product of two
embeddings is their cosine similarity.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import BigModelError
from ..models.base import BigModel
from .common import get_model, get_tokenizer

DEFAULT_MODEL = "all-minilm-l6-v2"


def mean_pool(hidden: Tensor, attention_mask: Tensor) -> Tensor:
    """(B, T, d) states and a (B, T) mask -> (B, d) mean over the unmasked positions."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1e-9)


def _max_length(model: BigModel) -> int:
    """sentence-transformers' max_seq_length when the folder says it, else the context."""
    limit = model.config.max_seq_len
    folder = getattr(model, "name_or_path", None)
    if folder:
        try:
            from ..hub import resolve_model_dir

            settings = resolve_model_dir(folder) / "sentence_bert_config.json"
            if settings.is_file():
                limit = min(limit, int(json.loads(settings.read_text())["max_seq_length"]))
        except (BigModelError, KeyError, ValueError, OSError):
            pass
    return limit


def _encoder(model: BigModel) -> BigModel:
    """The bare encoder of a BERT (with or without heads) or GPT model."""
    for attribute in ("bert", "transformer"):
        inner = getattr(model, attribute, None)
        if isinstance(inner, BigModel):
            return inner
    return model


def embed(
    texts: str | list[str],
    model: str | Path | BigModel = DEFAULT_MODEL,
    *,
    tokenizer: Any = None,
    batch_size: int = 64,
    normalize: bool = True,
    max_length: int | None = None,
    dtype: str | None = None,
    progress: bool = False,
    device: str | torch.device | None = None,
    normalize_embeddings: bool | None = None,
    show_progress_bar: bool | None = None,
    convert_to_numpy: bool | None = None,
    convert_to_tensor: bool | None = None,
) -> Tensor | np.ndarray:
    """Embed one text -> (d,) or a list -> (N, d) float32, L2-normalized by default.

    Texts are sorted by length before batching so that each batch pads little; the result
    comes back in the input order, as a CPU tensor.

    sentence-transformers' ``encode`` keywords work too: ``normalize_embeddings`` (the same
    as ``normalize``), ``show_progress_bar`` (``progress``), ``device`` (cpu, cuda, mps,
    auto; see bigmodel.devices), ``batch_size``, and ``convert_to_numpy=True`` for a numpy
    array (``convert_to_tensor=True`` wins, as there). Unlike ``encode`` the default output
    stays a tensor; the default normalization is the same as ``encode`` gives for
    all-MiniLM-L6-v2, whose pipeline ends in a Normalize module.
    """
    normalize = _same_switch(normalize, normalize_embeddings, "normalize", "normalize_embeddings", True)
    progress = _same_switch(progress, show_progress_bar, "progress", "show_progress_bar", False)
    as_numpy = bool(convert_to_numpy) and not convert_to_tensor
    single = isinstance(texts, str)
    items = [texts] if single else texts
    if not isinstance(items, (list, tuple)) or not all(isinstance(t, str) for t in items):
        raise BigModelError("texts must be a string or a list of strings")
    if batch_size < 1:
        raise BigModelError(f"batch_size must be >= 1, got {batch_size}")
    network = get_model(model, dtype=dtype, device=device)
    tok = get_tokenizer(model if not isinstance(model, BigModel) else network, tokenizer)
    encoder = _encoder(network)
    limit = max_length or _max_length(network)
    order = sorted(range(len(items)), key=lambda i: len(items[i]), reverse=True)
    out = torch.empty(len(items), network.config.d_model)
    batches = range(0, len(items), batch_size)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc="embed", unit="batch", leave=False)
    with torch.inference_mode():
        for start in batches:
            index = order[start : start + batch_size]
            enc = tok([items[i] for i in index], padding=True, truncation=True, max_length=limit)
            enc = {k: v.to(network.device) for k, v in enc.items()}
            kwargs = {"attention_mask": enc["attention_mask"]}
            if "token_type_ids" in enc and encoder.family == "bert":
                kwargs["token_type_ids"] = enc["token_type_ids"]
            hidden = encoder(enc["input_ids"], **kwargs).last_hidden_state
            vectors = mean_pool(hidden.float(), enc["attention_mask"])
            if normalize:
                vectors = torch.nn.functional.normalize(vectors, p=2, dim=-1)
            out[index] = vectors.cpu()
    result = out[0] if single else out
    return result.numpy() if as_numpy else result


def _same_switch(ours: bool, theirs: bool | None, our_name: str, their_name: str, default: bool) -> bool:
    """A flag given under our name or sentence-transformers' (not both, differently)."""
    if theirs is None:
        return ours
    if ours != default and ours != theirs:
        raise BigModelError(f"{our_name}={ours} and {their_name}={theirs} disagree; give one of them")
    return bool(theirs)


def similarity(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity matrix (N, M) of two sets of embeddings."""
    a = torch.nn.functional.normalize(a.reshape(-1, a.shape[-1]), dim=-1)
    b = torch.nn.functional.normalize(b.reshape(-1, b.shape[-1]), dim=-1)
    return a @ b.T


def search(query: str, corpus: list[str], model: str | Path | BigModel = DEFAULT_MODEL,
           top_k: int = 5) -> list[dict[str, Any]]:
    """Rank ``corpus`` by cosine similarity to ``query``: [{"text", "score", "index"}]."""
    if not corpus:
        raise BigModelError("corpus must hold at least one text")
    vectors = embed([query, *corpus], model)
    scores = (vectors[1:] @ vectors[0]).tolist()
    ranked = sorted(range(len(corpus)), key=lambda i: -scores[i])[:top_k]
    return [{"text": corpus[i], "score": scores[i], "index": i} for i in ranked]
