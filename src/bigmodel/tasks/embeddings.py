"""Sentence embeddings: the sentence-transformers recipe for all-MiniLM-L6-v2.

    e = normalize( Σ_t m_t h_t / Σ_t m_t )        h_t: (d_model,) last layer, m_t: 1 = token, 0 = pad

Mean pooling over real tokens, then L2 normalization, so that the dot product of two
embeddings is their cosine similarity.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import BigModelError
from ..models.base import BigModel
from ..nn.kernel_cache import cpu_description
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

    Every text is tokenized once, then the texts are sorted by their number of tokens and
    batched in that order, so a batch pads little (often not at all, and then needs no mask);
    the result comes back in the input order, as a CPU tensor.

    ``dtype``: None (the default) runs an fp32 model on a CPU that multiplies bf16 in
    hardware (AMX or AVX512-BF16) in bf16 mixed precision: matrix products in bf16, the
    residual stream, LayerNorm and pooling in fp32, which keeps the cosine to the fp32
    embedding >= 0.9999 at 1.5-2.5x fp32's speed (benchmarks/embed.py, a 2-core Xeon with
    AMX); other CPUs and devices run the model's own dtype. ``"fp32"`` asks for fp32 throughout,
    ``"bf16"`` for bf16 weights throughout (faster still, cosine ~0.9998).

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
    out = torch.empty(len(items), network.config.d_model)
    if not items:
        return out.numpy() if as_numpy else out
    limit = max_length or _max_length(network)
    rows = tok(list(items), padding=False, truncation=True, max_length=limit,
               return_tensors=None)["input_ids"]
    order = sorted(range(len(items)), key=lambda i: len(rows[i]), reverse=True)
    pad_id = _pad_id(tok)
    batches = range(0, len(items), batch_size)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc="embed", unit="batch", leave=False)
    with torch.inference_mode(), _precision(network, dtype):
        for start in batches:
            index = order[start : start + batch_size]
            ids, mask = _padded([rows[i] for i in index], pad_id, network.device)
            hidden = encoder(ids, attention_mask=mask).last_hidden_state  # (B, T, d)
            hidden = hidden.float()
            vectors = hidden.mean(dim=1) if mask is None else mean_pool(hidden, mask)
            if normalize:
                vectors = torch.nn.functional.normalize(vectors, p=2, dim=-1)
            out[index] = vectors.cpu()
    result = out[0] if single else out
    return result.numpy() if as_numpy else result


def _pad_id(tok: Any) -> int:
    """The id padding positions get (masked out, so any valid id does)."""
    for name in ("pad_token_id", "eos_token_id"):
        value = getattr(tok, name, None)
        if isinstance(value, int):
            return value
    return 0


def _padded(rows: list[list[int]], pad_id: int,
            device: torch.device) -> tuple[Tensor, Tensor | None]:
    """Token rows -> ids (B, T) padded on the right, and the mask (B, T), or None when every
    row has T tokens (the batches of length-sorted texts mostly do; unmasked attention is
    the faster kernel)."""
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [pad_id] * (width - len(r)) for r in rows], dtype=torch.long)
    if all(len(r) == width for r in rows):
        return ids.to(device), None
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long)
    return ids.to(device), mask.to(device)


def _precision(network: BigModel, dtype: str | None) -> contextlib.AbstractContextManager:
    """bf16 mixed precision for an fp32 model on a CPU with bf16 hardware when no dtype was
    asked for; otherwise the model's own dtype."""
    weight = next(network.parameters())
    if dtype is not None or weight.device.type != "cpu" or weight.dtype != torch.float32:
        return contextlib.nullcontext()
    _, flags = cpu_description()
    if "amx_bf16" not in flags and "avx512_bf16" not in flags:
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=torch.bfloat16)


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
