"""The models a server was started with, what each can be asked for, and the lookup by name.

What a model can serve is asked of the model itself, not of its family name::

    encode() and decode()                 an encoder-decoder      -> generate
    an LM head and new_kv_cache()         a causal LM             -> generate, attention
    an MLM head                           a masked LM             -> fill-mask, attention
    a span-task architecture              QA / token classifier   -> answer / tag

A model given as ``--embedding-model`` or ``--classifier`` is served for that role (and its
attention maps). A request's ``model`` is looked up in :class:`Registry` and nowhere else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request

from ..decoding.runners import is_encoder_decoder
from ..errors import BigModelError, did_you_mean
from ..tasks.chat import read_chat_template
from .api_error import APIError
from .batching import BatchEngine
from .seq2seq import Seq2SeqEngine

__all__ = ["ANSWER", "ATTENTION", "CLASSIFY", "EMBED", "FILL_MASK", "GENERATE", "TAG", "Registry",
           "ServedModel", "load_served", "model_id", "registry_of", "serving_capabilities"]

GENERATE, FILL_MASK, EMBED, CLASSIFY, ATTENTION = "generate", "fill-mask", "embed", "classify", "attention"
ANSWER, TAG = "answer", "tag"
SPAN_TASKS = {"BertForQuestionAnswering": ANSWER, "BertForTokenClassification": TAG}


@dataclass
class ServedModel:
    """A model the server was started with; ``id`` is the only name requests may use."""

    id: str
    source: str
    model: Any
    tokenizer: Any
    capabilities: list[str]
    engine: BatchEngine | None = None
    chat_template: str | None = None
    created: int = field(default_factory=lambda: int(time.time()))

    def card(self) -> dict[str, Any]:
        return {"id": self.id, "object": "model", "created": self.created, "owned_by": "bigmodel",
                "capabilities": self.capabilities, "family": getattr(self.model, "family", None),
                "context_length": getattr(self.model.config, "max_seq_len", None)}


def model_id(source: str) -> str:
    """The name clients use: a folder's own name, or the preset / HF id as given."""
    path = Path(source).expanduser()
    return path.name if path.is_dir() else source


def _is_causal_lm(model: Any) -> bool:
    return getattr(model, "lm_head", None) is not None and callable(getattr(model, "new_kv_cache", None))


def serving_capabilities(model: Any, role: str) -> list[str]:
    """What ``model``, loaded for ``role`` ("generate", "embed", "classify"), can be asked for."""
    if role == EMBED:
        return [EMBED, ATTENTION]
    if role == CLASSIFY:
        return [CLASSIFY, ATTENTION]
    if is_encoder_decoder(model):
        return [GENERATE]
    if _is_causal_lm(model):
        return [GENERATE, ATTENTION]
    if getattr(model, "mlm_head", None) is not None:
        return [FILL_MASK, ATTENTION]
    span_task = SPAN_TASKS.get(getattr(model, "architecture", ""))  # QA, token classification
    if span_task is not None:
        return [span_task]
    raise BigModelError(f"--model {getattr(model, 'name_or_path', '?')}: the server generates with a GPT or a "
                        "seq2seq Transformer and "
                        f"fills masks with a BERT masked LM; this is {type(model).__name__} "
                        "(use --embedding-model or --classifier for other roles)")


def load_served(source: str, role: str, *, max_batch_size: int, max_concurrency: int,
                dtype: str | None = None) -> ServedModel:
    from ..tasks.common import get_model, get_tokenizer

    if role == CLASSIFY:
        from ..tasks.text_classification import load_classifier

        model = load_classifier(source, dtype=dtype).eval()
    else:
        model = get_model(source, dtype=dtype).eval()
    try:
        tokenizer = get_tokenizer(source)
    except BigModelError:
        tokenizer = get_tokenizer(model)  # an adapter folder: the base model's tokenizer
    caps = serving_capabilities(model, role)
    served = ServedModel(model_id(source), source, model, tokenizer, caps)
    if GENERATE in caps:
        # An encoder-decoder is served one request at a time (serve/seq2seq.py).
        engine_class = Seq2SeqEngine if is_encoder_decoder(model) else BatchEngine
        served.engine = engine_class(model, tokenizer, max_batch_size=max_batch_size,
                                     max_concurrency=max_concurrency, name=served.id)
        served.chat_template = read_chat_template(source)
    return served


class Registry:
    """The served models by id; a request's ``model`` is looked up here and nowhere else."""

    def __init__(self, models: list[ServedModel]) -> None:
        self.models: dict[str, ServedModel] = {}
        for m in models:
            if m.id in self.models:
                raise BigModelError(f"two served models share the name {m.id!r}; rename one folder")
            self.models[m.id] = m

    def get(self, name: str | None, capability: str, *, required: bool = True) -> ServedModel:
        able = [m for m in self.models.values() if capability in m.capabilities]
        if name is None or name == "":
            if required:
                raise APIError(400, "model: is required", "model")
            if not able:
                raise APIError(400, f"no served model can do {capability}; start the server with one",
                               "model", code="model_not_found")
            return able[0]
        served = self.models.get(name)
        if served is None:
            # Accept the exact source string too (e.g. the folder path the server was started with).
            served = next((m for m in self.models.values() if m.source == name), None)
        if served is None:
            names = list(self.models)
            raise APIError(400, f"model: {name[:200]!r} is not served here{did_you_mean(name[:200], names)}; "
                           f"served: {', '.join(names)}", "model", code="model_not_found")
        if capability not in served.capabilities:
            others = ", ".join(m.id for m in able) or "none"
            raise APIError(400, f"model: {served.id!r} cannot do {capability} (it can: "
                           f"{', '.join(served.capabilities)}); models that can: {others}", "model")
        return served


def registry_of(request: Request) -> Registry:
    """The registry of the app answering ``request`` (``create_app`` puts it in ``app.state``)."""
    return request.app.state.registry
