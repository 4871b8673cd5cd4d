"""The HTTP layer under the app: JSON errors for broken requests, header limits, the socket.

uvicorn answers a request h11 cannot parse (a bad Content-Length, a bad chunk size, no Host,
control bytes in the method) with a text/plain "Invalid HTTP request received."; clients of
this server read JSON errors. :class:`GuardedH11Protocol` is uvicorn's own h11 protocol with
two changes:

* the request head is checked when h11 has parsed it: at most :data:`MAX_HEADERS` headers,
  none longer than :data:`MAX_HEADER_BYTES`, the whole head within :data:`MAX_HEAD_BYTES`,
  one Content-Length at most; beyond that, 431 (or 400) before the app sees anything;
* every such refusal is OpenAI's error JSON, ``{"error": {"message", "type", "param", "code"}}``.

:func:`bind` opens the listening socket first, so that a port in use or a host that does not
resolve is one error line before the server says it is serving.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..errors import BigModelError

MAX_HEADERS = 100
MAX_HEADER_BYTES = 8 * 1024  # one header, name and value
MAX_HEAD_BYTES = 64 * 1024  # request line and all headers

logger = logging.getLogger(__name__)


def head_problem(headers: list[tuple[bytes, bytes]]) -> tuple[int, str, str] | None:
    """(status, code, message) when a request head breaks the limits, else None."""
    if len(headers) > MAX_HEADERS:
        return 431, "too_many_headers", f"request has {len(headers)} headers; at most {MAX_HEADERS} are accepted"
    total = 0
    for name, value in headers:
        size = len(name) + len(value)
        total += size + 4  # ": " and CRLF
        if size > MAX_HEADER_BYTES:
            shown = name.decode("latin-1")[:40]
            return (431, "header_too_large",
                    f"header {shown!r} is {size} bytes; at most {MAX_HEADER_BYTES} are accepted")
    if total > MAX_HEAD_BYTES:
        return 431, "headers_too_large", f"request headers are {total} bytes; at most {MAX_HEAD_BYTES} are accepted"
    lengths = [v for n, v in headers if n.lower() == b"content-length"]
    if len(lengths) > 1:
        return 400, "bad_http_request", "request has more than one Content-Length header"
    return None


class _GuardedConnection(h11.Connection):
    """h11's connection that also refuses heads over the limits, and remembers why it refused."""

    refusal: tuple[int, str, str] | None = None

    def next_event(self) -> Any:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint if 400 <= exc.error_status_hint < 500 else 400
            code = "headers_too_large" if status == 431 else "bad_http_request"
            self.refusal = (status, code, f"malformed HTTP request: {exc}")
            raise
        if isinstance(event, h11.Request):
            problem = head_problem(list(event.headers))
            if problem is not None:
                self.refusal = problem
                raise h11.RemoteProtocolError(problem[2], error_status_hint=problem[0])
        return event


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol answering broken or oversized requests with JSON errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = _GuardedConnection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)

    def send_400_response(self, msg: str) -> None:
        status, code, message = self.conn.refusal or (400, "bad_http_request", msg)
        self.conn.refusal = None
        logger.info("refused a request from %s: %s", self.client, message)
        body = json.dumps({"error": {"message": message, "type": "invalid_request_error",
                                     "param": None, "code": code}}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        try:
            for event in (h11.Response(status_code=status, headers=headers), h11.Data(data=body),
                          h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
        except h11.LocalProtocolError:
            pass  # a response had already started: the connection can only be closed
        self.transport.close()


def uvicorn_options() -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` / ``uvicorn.run`` that install the guard."""
    return {"http": GuardedH11Protocol, "h11_max_incomplete_event_size": MAX_HEAD_BYTES}


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, or one BigModelError (port in use, unknown host)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise BigModelError(f"--host {host!r} does not resolve to an address ({reason})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise BigModelError(f"--host/--port: cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.set_inheritable(True)
    return sock


__all__ = ["MAX_HEADERS", "MAX_HEADER_BYTES", "MAX_HEAD_BYTES", "GuardedH11Protocol", "bind", "head_problem",
           "uvicorn_options"]
