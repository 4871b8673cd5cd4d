"""Text classification: a fine-tuned classifier's label and class probabilities for texts.

    p(c | x) = softmax(logits(x))_c        label = argmax_c p(c | x),  score = max_c p(c | x)

A classifier is any saved BertForSequenceClassification / GPT2ForSequenceClassification
folder (``bigmodel train`` writes one with the label names in config.json and the tokenizer
beside it), or a LoRA adapter folder (``adapter_config.json``), which is loaded onto its base
model and merged.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..devices import to_device
from ..errors import BigModelError
from ..models.base import BigModel
from ..models.families import family_of
from ..tokenization.windows import check_long_texts, mean_over_windows, pad_rows, text_windows
from .common import get_model, get_tokenizer


def is_classifier(model: BigModel) -> bool:
    """Whether ``model`` is its family's text classifier (``FamilyMap.sequence_classifier``)."""
    family = family_of(model)
    return family is not None and family.sequence_classifier != "" and \
        model.architecture == family.sequence_classifier


def label_list(model: BigModel) -> list[str]:
    """Class i's name, from config.id2label (``LABEL_i`` when the model has none)."""
    id2label = getattr(model.config, "id2label", None) or {}
    return [str(id2label.get(i, f"LABEL_{i}")) for i in range(model.config.num_labels)]


def load_adapter_classifier(directory: str | Path) -> BigModel:
    """Base model named in ``adapter_config.json`` + the LoRA adapter, merged (eval mode)."""
    from ..hub import load
    from ..nn.lora import load_adapter, merge_lora, read_adapter_config

    config = read_adapter_config(directory)
    extra = config.get("bigmodel") or {}
    base = config.get("base_model_name_or_path")
    if not base:
        raise BigModelError(f"{directory}/adapter_config.json does not name its base_model_name_or_path")
    architecture = extra.get("architecture")
    model = load(base, architecture=architecture)
    id2label = extra.get("id2label")
    if id2label:
        model = _with_labels(model, {int(k): str(v) for k, v in id2label.items()}, extra.get("pad_token_id"))
    if extra.get("long_texts") and hasattr(model.config, "long_texts"):
        model.config.long_texts = extra["long_texts"]
    load_adapter(model, directory)
    merge_lora(model)
    model.name_or_path = str(directory)
    return model.eval()


def _with_labels(model: BigModel, id2label: dict[int, str], pad_token_id: int | None) -> BigModel:
    """The same model with a head sized for ``id2label`` (its weights come from the adapter)."""
    changes: dict[str, Any] = {"id2label": id2label, "num_labels": len(id2label)}
    if pad_token_id is not None:
        changes["pad_token_id"] = pad_token_id
    if model.config.num_labels == len(id2label):
        for key, value in changes.items():
            setattr(model.config, key, value)
        return model
    fresh = type(model)(model.config.replace(**changes))
    state = {k: v for k, v in model.state_dict().items() if fresh.state_dict()[k].shape == v.shape}
    fresh.load_state_dict(state, strict=False)
    fresh.name_or_path = getattr(model, "name_or_path", None)
    return fresh


@functools.lru_cache(maxsize=4)
def _cached_adapter_classifier(directory: str) -> BigModel:
    return load_adapter_classifier(directory)


def load_classifier(model: str | Path | BigModel, dtype: str | None = None) -> BigModel:
    """A sequence classifier from a name, a saved folder, an adapter folder, or as given."""
    if isinstance(model, (str, Path)) and (Path(model) / "adapter_config.json").is_file() \
            and not (Path(model) / "config.json").is_file():
        network = _cached_adapter_classifier(str(model))
    else:
        network = get_model(model, dtype=dtype)
    if not is_classifier(network):
        raise BigModelError(
            f"model {getattr(network, 'name_or_path', model)!s} is a {network.architecture}, not a text "
            f"classifier; fine-tune one first, e.g. `bigmodel train configs/sentiment-zh.toml`"
        )
    return network


def long_text_mode(network: BigModel, long_texts: str | None) -> str:
    """``long_texts`` as given, else the model's own (config.long_texts; "truncate" if none)."""
    if long_texts is not None:
        return check_long_texts(long_texts)
    name = getattr(network, "name_or_path", None) or "the model"
    return check_long_texts(getattr(network.config, "long_texts", "truncate"), f"{name}'s config long_texts")


def predict_logits(
    network: BigModel,
    tokenizer: Any,
    texts: Sequence[str],
    text_pairs: Sequence[str] | None = None,
    *,
    batch_size: int = 32,
    max_length: int | None = None,
    long_texts: str | None = None,
    progress: bool = False,
    desc: str = "classify",
) -> torch.Tensor:
    """(N, num_labels) float32 logits, in input order (batches are formed by length).

    ``long_texts``: "truncate" keeps a text's first ``max_length`` tokens (transformers'
    pipeline); "windows" reads all of it, as the mean of the logits of windows that cover it
    (tokenization/windows.py). None: the model's own setting. Text pairs always truncate.
    """
    if batch_size < 1:
        raise BigModelError(f"batch_size must be >= 1, got {batch_size}")
    limit = min(max_length or network.config.max_seq_len, network.config.max_seq_len)
    windowed = long_text_mode(network, long_texts) == "windows" and text_pairs is None
    family = family_of(network)
    reads_type_ids = family is not None and family.reads_token_type_ids
    if windowed:
        windows = text_windows(tokenizer, texts, limit)
        rows, types = windows.input_ids, windows.token_type_ids
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else network.config.pad_token_id

        def encode(index: list[int]) -> dict[str, torch.Tensor]:
            return pad_rows([rows[w] for w in index], [types[w] for w in index], int(pad or 0))

        count = len(rows)
        order = sorted(range(count), key=lambda w: len(rows[w]), reverse=True)
    else:
        def encode(index: list[int]) -> dict[str, torch.Tensor]:
            pairs = [text_pairs[i] for i in index] if text_pairs is not None else None
            return tokenizer([texts[i] for i in index], pairs, padding=True, truncation=True, max_length=limit)

        count = len(texts)
        order = sorted(range(count), key=lambda i: len(texts[i]), reverse=True)
    out = torch.empty(count, network.config.num_labels)
    starts: Any = range(0, count, batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=desc, unit="batch", leave=False)
    was_training = network.training
    network.eval()
    try:
        with torch.inference_mode():
            for start in starts:
                index = order[start : start + batch_size]
                enc = encode(index)
                kwargs: dict[str, Any] = {"attention_mask": enc["attention_mask"].to(network.device)}
                if reads_type_ids and "token_type_ids" in enc:
                    kwargs["token_type_ids"] = enc["token_type_ids"].to(network.device)
                out[index] = network(enc["input_ids"].to(network.device), **kwargs).logits.float().cpu()
    finally:
        network.train(was_training)
    if windowed:
        return mean_over_windows(out, torch.tensor(windows.owner, dtype=torch.long), len(texts))
    return out


def classify(
    texts: str | Sequence[str],
    model: str | Path | BigModel,
    *,
    text_pair: str | Sequence[str] | None = None,
    tokenizer: Any = None,
    top_k: int | None = None,
    batch_size: int = 32,
    max_length: int | None = None,
    long_texts: str | None = None,
    dtype: str | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> dict[str, Any] | list[dict[str, Any]]:
    """Classify one text -> {"label", "score", "probabilities"}; a list -> a list of those.

    ``probabilities`` maps every label to p(label | text), most likely first; ``top_k`` keeps
    only the k most likely. transformers' text-classification pipeline gives the same
    numbers in another shape: its ``pipe(text)`` (a one-element list) is
    ``[{"label": r["label"], "score": r["score"]}]`` here, and its ``pipe(text, top_k=k)`` is
    ``r["probabilities"]`` of ``classify(text, top_k=k)`` as label -> score, best first.

    A text longer than the model's context is truncated (as transformers does) unless
    ``long_texts="windows"`` or the model was fine-tuned that way (its config.json says
    ``"long_texts": "windows"``): then p(c | x) is the softmax of the mean logits of windows
    that cover the whole text.
    """
    single = isinstance(texts, str)
    items = [texts] if single else list(texts) if isinstance(texts, (list, tuple)) else None
    if items is None or not all(isinstance(t, str) for t in items):
        raise BigModelError("texts must be a string or a list of strings")
    if not items:
        return []
    if any(not t.strip() for t in items):
        raise BigModelError(f"text {next(i for i, t in enumerate(items) if not t.strip())} is empty; "
                            f"give non-empty texts")
    pairs = None
    if text_pair is not None:
        pairs = [text_pair] if isinstance(text_pair, str) else list(text_pair)
        if len(pairs) != len(items):
            raise BigModelError(f"text_pair has {len(pairs)} entries for {len(items)} texts")
    if top_k is not None and top_k < 1:
        raise BigModelError(f"top_k must be >= 1, got {top_k}")
    if long_texts is not None:
        check_long_texts(long_texts)
    network = to_device(load_classifier(model, dtype), device)
    tok = get_tokenizer(model if not isinstance(model, BigModel) else network, tokenizer)
    logits = predict_logits(network, tok, items, pairs, batch_size=batch_size, max_length=max_length,
                            long_texts=long_texts, progress=progress)
    probs = torch.softmax(logits, dim=-1)
    names = label_list(network)
    keep = min(top_k or len(names), len(names))
    results = []
    for row in probs:
        values, index = row.topk(keep)
        ranked = {names[i]: float(v) for v, i in zip(values.tolist(), index.tolist(), strict=True)}
        best = int(index[0])
        results.append({"label": names[best], "score": float(values[0]), "probabilities": ranked})
    return results[0] if single else results


__all__ = ["classify", "is_classifier", "label_list", "load_adapter_classifier", "load_classifier", "long_text_mode",
           "predict_logits"]
