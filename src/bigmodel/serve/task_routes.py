"""HTTP routes of the non-generating tasks; each calls the same task function as the CLI.

    POST /v1/embeddings     text(s) -> vectors, float or base64 (little-endian f32)
    POST /v1/fill-mask      BERT's [MASK] filled, top-k
    POST /v1/classify       label scores of a text classifier
    POST /v1/attention      attention weights of a text, for the heatmap
    POST /v1/answer         extractive question answering (a BertForQuestionAnswering folder)
    POST /v1/tag            named entities (a BertForTokenClassification folder)

The work runs in a worker thread, so the event loop keeps serving. A request names its model
in ``model`` (or, except for embeddings, leaves it out when one such model is served). A
user's mistake (an empty context, an empty text) is a 400 with a JSON error naming the field.
Token-id inputs (embeddings) are the model's own tokenizer's.
"""

from __future__ import annotations

import asyncio
import base64
import struct
from typing import Any, Literal

import torch
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from .api_error import APIError
from .request_body import read_json
from .schemas import (
    AttentionRequest,
    ClassifyRequest,
    EmbeddingRequest,
    FillMaskRequest,
    NonEmpty,
    _Request,
)
from .served_models import (
    ANSWER,
    ATTENTION,
    CLASSIFY,
    EMBED,
    FILL_MASK,
    TAG,
    ServedModel,
    registry_of,
)

__all__ = ["AnswerRequest", "TagRequest", "router"]

router = APIRouter()


class AnswerRequest(_Request):
    model: str | None = None
    question: NonEmpty
    context: NonEmpty
    top_k: int = Field(default=1, ge=1, le=20)
    max_answer_len: int = Field(default=15, ge=1, le=512)


class TagRequest(_Request):
    model: str | None = None
    text: NonEmpty | list[NonEmpty]
    aggregation: Literal["simple", "none"] = "simple"


def _decode_input(served: ServedModel, ids: list[int]) -> str:
    """Token ids of the model's own tokenizer as the text they stand for (embedded as text)."""
    vocab = len(served.tokenizer)
    if any(not 0 <= t < vocab for t in ids):
        raise APIError(400, f"input: token ids must lie in 0..{vocab - 1}", "input")
    return served.tokenizer.decode(ids, skip_special_tokens=True)


def _embedding_data(vectors: torch.Tensor, encoding_format: str) -> list[dict[str, Any]]:
    data = []
    for i, row in enumerate(vectors.float()):
        if encoding_format == "base64":
            value: Any = base64.b64encode(struct.pack(f"<{row.numel()}f", *row.tolist())).decode()
        else:
            value = row.tolist()
        data.append({"object": "embedding", "index": i, "embedding": value})
    return data


@router.post("/v1/embeddings")
async def embeddings(request: Request) -> JSONResponse:
    req: EmbeddingRequest = await read_json(request, EmbeddingRequest)
    m = registry_of(request).get(req.model, EMBED)
    texts = [_decode_input(m, x) if isinstance(x, list) else x for x in req.inputs()]

    def work() -> tuple[torch.Tensor, int]:
        from ..tasks.embeddings import embed

        vectors = embed(texts, m.model, tokenizer=m.tokenizer)
        tokens = sum(len(m.tokenizer.encode(t)) for t in texts)
        return vectors, tokens

    vectors, tokens = await asyncio.to_thread(work)
    if req.dimensions is not None and req.dimensions != vectors.shape[1]:
        raise APIError(400, f"dimensions: this model gives {vectors.shape[1]}-dimensional vectors, "
                       f"got {req.dimensions}", "dimensions")
    return JSONResponse({"object": "list", "data": _embedding_data(vectors, req.encoding_format), "model": m.id,
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


@router.post("/v1/fill-mask")
async def fill_mask_endpoint(request: Request) -> JSONResponse:
    req: FillMaskRequest = await read_json(request, FillMaskRequest)
    m = registry_of(request).get(req.model, FILL_MASK, required=False)

    def work() -> Any:
        from ..tasks.mask_filling import fill_mask

        return fill_mask(req.text, m.model, m.tokenizer, top_k=req.top_k)

    predictions = await asyncio.to_thread(work)
    mask = getattr(m.tokenizer, "mask_token", None)
    return JSONResponse({"model": m.id, "mask_token": mask, "predictions": predictions})


@router.post("/v1/classify")
async def classify_endpoint(request: Request) -> JSONResponse:
    req: ClassifyRequest = await read_json(request, ClassifyRequest)
    m = registry_of(request).get(req.model, CLASSIFY, required=False)

    def work() -> Any:
        from ..tasks.text_classification import classify

        kwargs = {"top_k": req.top_k} if req.top_k is not None else {}
        return classify(req.text, m.model, tokenizer=m.tokenizer, long_texts=req.long_texts, **kwargs)

    result = await asyncio.to_thread(work)
    return JSONResponse({"model": m.id, "result": result})


@router.post("/v1/attention")
async def attention_endpoint(request: Request) -> JSONResponse:
    req: AttentionRequest = await read_json(request, AttentionRequest)
    m = registry_of(request).get(req.model, ATTENTION, required=False)

    def work() -> dict[str, Any]:
        from ..explain.attention import attention_maps

        maps = attention_maps(m.model, req.text, m.tokenizer, layers=req.layers, heads=req.heads,
                              max_tokens=req.max_tokens)
        return maps.to_dict()

    return JSONResponse({"model": m.id, **(await asyncio.to_thread(work))})


@router.post("/v1/answer")
async def answer_endpoint(request: Request) -> JSONResponse:
    req: AnswerRequest = await read_json(request, AnswerRequest)
    m = registry_of(request).get(req.model, ANSWER, required=False)

    def work() -> Any:
        from ..tasks.question_answering import answer

        return answer(req.question, req.context, m.model, tokenizer=m.tokenizer, top_k=req.top_k,
                      max_answer_len=req.max_answer_len)

    result = await asyncio.to_thread(work)
    return JSONResponse({"model": m.id, "result": result})


@router.post("/v1/tag")
async def tag_endpoint(request: Request) -> JSONResponse:
    req: TagRequest = await read_json(request, TagRequest)
    m = registry_of(request).get(req.model, TAG, required=False)

    def work() -> Any:
        from ..tasks.token_classification import tag

        return tag(req.text, m.model, tokenizer=m.tokenizer, aggregation=req.aggregation)

    entities = await asyncio.to_thread(work)
    return JSONResponse({"model": m.id, "entities": entities})
