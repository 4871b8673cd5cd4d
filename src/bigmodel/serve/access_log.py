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
from typing import Any

from .response_timing import TimedToLastByte

logger = logging.getLogger("bigmodel.serve.access")

USAGE_KEY = "bigmodel_usage"  # in the ASGI scope's "state", where request.state writes


def note_usage(request: Any, usage: dict[str, int]) -> None:
    """Remember a request's token counts for its access log line."""
    setattr(request.state, USAGE_KEY, usage)


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at each line, not the stream of the moment the
    handler was made (a server run in-process, as the tests do, outlives a captured stderr)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def log_to_stderr(level: int = logging.INFO) -> None:
    """Show the access lines on stderr, unless the logger is configured already."""
    if logger.handlers:
        return
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def access_line(method: str, path: str, status: int, seconds: float, usage: dict[str, int] | None) -> str:
    line = f"{method} {path} {status} {seconds * 1000:.1f}ms"
    if usage:
        line += f" prompt_tokens={usage.get('prompt_tokens', 0)} completion_tokens={usage.get('completion_tokens', 0)}"
    return line


def log_request(scope: dict[str, Any], status: int, seconds: float) -> None:
    if logger.isEnabledFor(logging.INFO):
        usage = scope.get("state", {}).get(USAGE_KEY)
        logger.info(access_line(scope.get("method", "?"), scope.get("path", ""), status, seconds, usage))


class AccessLog(TimedToLastByte):
    """Pure ASGI middleware (a streamed response is logged after its last chunk)."""

    def __init__(self, app: Any) -> None:
        super().__init__(app, log_request)
