"""A request's JSON body, read within the size limit and checked against its schema.

Every failure is an :class:`~bigmodel.serve.api_error.APIError`: 413 for a body over the
limit (``create_app(max_body_bytes=...)``, kept in ``app.state.max_body_bytes``), 400 naming
what is wrong otherwise (not UTF-8, not JSON, not an object, the first invalid field).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

from .api_error import APIError
from .schemas import first_error

__all__ = ["DEFAULT_MAX_BODY", "DRAIN_LIMIT", "read_json"]

logger = logging.getLogger(__name__)
DEFAULT_MAX_BODY = 2 * 1024 * 1024
DRAIN_LIMIT = 64 * 1024 * 1024  # an oversized body is read (and dropped) up to here, then cut


async def _read_bytes(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_big = APIError(413, f"request body is larger than the limit of {limit} bytes", "body",
                       code="request_too_large")
    if declared is not None and declared.isdigit() and int(declared) > DRAIN_LIMIT:
        raise too_big
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > DRAIN_LIMIT:
                break
            if size <= limit:
                chunks.append(chunk)
    except ClientDisconnect:
        # Nobody reads the answer; one log line, not starlette's re-raised traceback.
        logger.info("%s %s: the client disconnected while sending the body", request.method, request.url.path)
        raise APIError(400, "the client disconnected before the body was complete", "body",
                       code="client_disconnected") from None
    if size > limit:
        raise too_big
    return b"".join(chunks)


def _parse_object(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise APIError(400, f"request body is not valid UTF-8 (byte {exc.start})", "body") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise APIError(400, f"request body is not valid JSON: {exc}", "body") from None
    except RecursionError:
        raise APIError(400, "request body is not valid JSON: nested too deeply", "body") from None
    if not isinstance(data, dict):
        raise APIError(400, "request body must be a JSON object", "body")
    return data


async def read_json(request: Request, schema: type[BaseModel], limit: int | None = None) -> Any:
    """The body checked against ``schema``; APIError 413 / 400 naming what is wrong.

    ``limit`` in bytes defaults to the app's ``max_body_bytes``.
    """
    if limit is None:
        limit = int(getattr(request.app.state, "max_body_bytes", DEFAULT_MAX_BODY))
    data = _parse_object(await _read_bytes(request, limit))
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        where, message = first_error(exc)
        raise APIError(400, f"{where}: {message}", where) from None
