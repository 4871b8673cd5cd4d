"""Errors in OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``, for every route.

A bad request is a 400 whose message names the field; a :class:`~bigmodel.errors.BigModelError`
raised by a task function is a 400 too; an unknown path or method is starlette's status in
the same shape; anything else is a 500 that names the exception, never a traceback.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import BigModelError

__all__ = ["APIError", "install_error_handlers"]


class APIError(Exception):
    """An answer in OpenAI's error shape."""

    def __init__(self, status: int, message: str, param: str | None = None, *,
                 type: str = "invalid_request_error", code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param
        self.type, self.code, self.headers = type, code, headers

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


async def _api_error(request: Request, exc: APIError) -> JSONResponse:
    return exc.response()


async def _user_error(request: Request, exc: BigModelError) -> JSONResponse:
    return APIError(400, str(exc)).response()


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    message = f"{request.method} {request.url.path}: {exc.detail}"
    return APIError(exc.status_code, message, type=kind, headers=getattr(exc, "headers", None)).response()


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    return APIError(500, f"internal error: {type(exc).__name__}: {exc}", type="server_error").response()


def install_error_handlers(app: FastAPI) -> None:
    """Answer every failure of ``app`` in OpenAI's error shape."""
    app.add_exception_handler(APIError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(BigModelError, _user_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _server_error)
