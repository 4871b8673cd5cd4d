"""A pure ASGI middleware that reports each HTTP request once, when its last byte is sent.

Being pure ASGI (not Starlette's BaseHTTPMiddleware) it sees a streamed response's every chunk,
so the time it reports covers the whole stream. The access log and the request metrics both
build on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

Done = Callable[[dict[str, Any], int, float], None]  # (ASGI scope, status, seconds)


class TimedToLastByte:
    """Calls ``done(scope, status, seconds)`` once per HTTP request: after the last body chunk,
    or when the app raises or the client goes away before it (status 500 if none was sent)."""

    def __init__(self, app: Any, done: Done) -> None:
        self.app = app
        self.done = done

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]
        reported = [False]

        def report() -> None:
            reported[0] = True
            self.done(scope, status[0], time.perf_counter() - start)

        async def send_and_report(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                report()

        try:
            await self.app(scope, receive, send_and_report)
        finally:
            if not reported[0]:
                report()


__all__ = ["Done", "TimedToLastByte"]
