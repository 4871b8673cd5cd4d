"""One log line per HTTP request, on the standard ``logging`` logger ``bigmodel.serve.access``::

    POST /v1/completions 200 41.7ms prompt_tokens=12 completion_tokens=16

Logged when the last byte is sent (so a streamed answer is timed whole) at INFO; a handler
that knows its token counts stores them with :func:`note_usage`. uvicorn's own access log is
off (``access_log=False``), so there is one line per request. ``bigmodel serve`` prints the
lines to stderr (:func:`log_to_stderr`); in Python, configure the logger as any other.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

logger = logging.getLogger("bigmodel.serve.access")

USAGE_KEY = "bigmodel_usage"  # in the ASGI scope's "state", where request.state writes


def note_usage(request: Any, usage: dict[str, int]) -> None:
    """Remember a request's token counts for its access log line."""
    setattr(request.state, USAGE_KEY, usage)


def log_to_stderr(level: int = logging.INFO) -> None:
    """Show the access lines on stderr, unless the logger is configured already."""
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def access_line(method: str, path: str, status: int, seconds: float, usage: dict[str, int] | None) -> str:
    line = f"{method} {path} {status} {seconds * 1000:.1f}ms"
    if usage:
        line += f" prompt_tokens={usage.get('prompt_tokens', 0)} completion_tokens={usage.get('completion_tokens', 0)}"
    return line


class AccessLog:
    """Pure ASGI middleware (a streamed response is logged after its last chunk)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]
        logged = [False]

        def log() -> None:
            logged[0] = True
            if logger.isEnabledFor(logging.INFO):
                usage = scope.get("state", {}).get(USAGE_KEY)
                logger.info(access_line(scope.get("method", "?"), scope.get("path", ""), status[0],
                                        time.perf_counter() - start, usage))

        async def send_and_log(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                log()

        try:
            await self.app(scope, receive, send_and_log)
        finally:
            if not logged[0]:  # the client went away mid-response, or the app raised
                log()
