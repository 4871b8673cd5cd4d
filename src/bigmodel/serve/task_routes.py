"""HTTP routes of the span tasks: POST /v1/answer (extractive QA) and POST /v1/tag (NER).

A BertForQuestionAnswering or BertForTokenClassification folder given to
``bigmodel serve --model`` is served for these routes; a request names it in ``model`` (or
leaves it out when one such model is served). A user's mistake (an empty context, an empty
text) is a 400 with a JSON error naming the field.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from .schemas import NonEmpty, _Request

ANSWER, TAG = "answer", "tag"


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


def task_capabilities(model: Any) -> list[str]:
    """What a span-task model can be asked for; [] for any other model."""
    architecture = getattr(model, "architecture", "")
    if architecture == "BertForQuestionAnswering":
        return [ANSWER]
    if architecture == "BertForTokenClassification":
        return [TAG]
    return []


def add_task_routes(app: FastAPI, registry: Any, limit: int) -> None:
    """Add /v1/answer and /v1/tag to ``app``, answering from the models in ``registry``."""
    from .app import read_json

    @app.post("/v1/answer")
    async def answer_endpoint(request: Request) -> JSONResponse:
        req: AnswerRequest = await read_json(request, AnswerRequest, limit)
        m = registry.get(req.model, ANSWER, required=False)

        def work() -> Any:
            from ..tasks.question_answering import answer

            return answer(req.question, req.context, m.model, tokenizer=m.tokenizer, top_k=req.top_k,
                          max_answer_len=req.max_answer_len)

        result = await asyncio.to_thread(work)
        return JSONResponse({"model": m.id, "result": result})

    @app.post("/v1/tag")
    async def tag_endpoint(request: Request) -> JSONResponse:
        req: TagRequest = await read_json(request, TagRequest, limit)
        m = registry.get(req.model, TAG, required=False)

        def work() -> Any:
            from ..tasks.token_classification import tag

            return tag(req.text, m.model, tokenizer=m.tokenizer, aggregation=req.aggregation)

        entities = await asyncio.to_thread(work)
        return JSONResponse({"model": m.id, "entities": entities})


__all__ = ["ANSWER", "TAG", "AnswerRequest", "TagRequest", "add_task_routes", "task_capabilities"]
