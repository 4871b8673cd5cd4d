"""What the server serves and how it is doing: GET /health, /metrics, /v1/models[/{id}]."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from .api_error import APIError
from .served_models import registry_of

__all__ = ["router"]

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    return {"status": "ok", "models": list(registry_of(request).models)}


@router.get("/metrics")
async def prometheus(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    return {"object": "list", "data": [m.card() for m in registry_of(request).models.values()]}


@router.get("/v1/models/{name:path}")
async def get_model_card(request: Request, name: str) -> dict[str, Any]:
    models = registry_of(request).models
    if name not in models:
        raise APIError(404, f"model {name[:200]!r} is not served here", "model", code="model_not_found")
    return models[name].card()
