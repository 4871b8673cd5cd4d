"""Broken HTTP, sent over raw sockets: every refusal is a JSON error, and the server goes on.

These requests never reach the app (h11 cannot parse them, or the head is over the limits):
serve/http_guard.py answers them. Each case opens its own connection, as a hostile client would.
"""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest
import torch

from bigmodel.serve.http_guard import MAX_HEADER_BYTES, MAX_HEADERS, bind, head_problem

torch.set_num_threads(1)

BODY = b'{"model": "tiny-gpt-en", "prompt": "Hi", "max_tokens": 1, "temperature": 0}'


def _post(head_lines: list[bytes], body: bytes = BODY) -> bytes:
    return b"\r\n".join([b"POST /v1/completions HTTP/1.1", *head_lines, b"", b""]) + body


FRAMING: list[tuple[str, bytes, int]] = [
    ("content-length not a number", _post([b"Host: x", b"Content-Length: ten"]), 400),
    ("content-length negative", _post([b"Host: x", b"Content-Length: -5"]), 400),
    ("two different content-lengths", _post([b"Host: x", b"Content-Length: 77", b"Content-Length: 5"]), 400),
    ("chunk size not hex", _post([b"Host: x", b"Transfer-Encoding: chunked"], b"zz\r\nabc\r\n0\r\n\r\n"), 400),
    ("HTTP/1.1 without Host", _post([b"Content-Length: %d" % len(BODY)]), 400),
    ("control byte in the method", b"PO\x01ST /v1/completions HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("space in the header name", _post([b"Host: x", b"Bad Name: 1", b"Content-Length: 0"], b""), 400),
    ("not HTTP at all", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n", 400),
    ("a target with a space", b"GET /he alth HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (f"{MAX_HEADERS + 1} headers", _post([b"Host: x", *[b"X-H%d: v" % i for i in range(MAX_HEADERS)],
                                          b"Content-Length: %d" % len(BODY)]), 431),
    ("2,000 headers", _post([b"Host: x", *[b"X-H%d: v" % i for i in range(2000)]]), 431),
    ("a 64 kB header value", _post([b"Host: x", b"X-Big: " + b"a" * 65536, b"Content-Length: 0"], b""), 431),
    ("a header just over the limit", _post([b"Host: x", b"X-Big: " + b"a" * MAX_HEADER_BYTES,
                                            b"Content-Length: 0"], b""), 431),
]


@pytest.fixture(scope="module")
def server():
    from bigmodel.serve import BackgroundServer, create_app

    app = create_app(["tiny-gpt-en"], max_batch_size=2, max_concurrency=4)
    with BackgroundServer(app) as running:
        yield running


def _exchange(server, raw: bytes, *, drip: bool = False, timeout: float = 20) -> tuple[int, dict, bytes]:
    """Send ``raw`` (in small pieces with ``drip``), read to EOF: (status, headers, body)."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        if drip:
            for i in range(0, len(raw), 1024):
                try:
                    sock.sendall(raw[i:i + 1024])
                except OSError:
                    break  # the server answered and closed before we finished: that is the point
        else:
            sock.sendall(raw)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.decode("latin-1").partition(":")
                                                             for line in lines[1:])}
    return status, headers, body


def _still_serving(server) -> None:
    raw = _post([b"Host: x", b"Content-Type: application/json", b"Content-Length: %d" % len(BODY),
                 b"Connection: close"])
    status, _, body = _exchange(server, raw)
    assert status == 200, body[:300]


@pytest.mark.parametrize(("raw", "expected"), [c[1:] for c in FRAMING], ids=[c[0] for c in FRAMING])
def test_broken_framing_gets_a_json_error(server, raw, expected) -> None:
    status, headers, body = _exchange(server, raw)
    assert status == expected, body[:300]
    assert headers["content-type"].startswith("application/json"), headers
    error = json.loads(body)["error"]
    assert error["message"] and error["type"] == "invalid_request_error", error
    _still_serving(server)


def test_a_head_sent_in_pieces_over_the_limit_is_431(server) -> None:
    raw = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"b" * 500) for i in range(300))
    status, headers, body = _exchange(server, raw + b"\r\n", drip=True)
    assert status == 431 and headers["content-type"].startswith("application/json"), body[:300]
    _still_serving(server)


def test_equal_duplicate_content_lengths_count_as_one(server) -> None:
    # RFC 9110 section 8.6 lets a recipient merge identical values; h11 does, so this is no smuggling.
    raw = _post([b"Host: x", b"Content-Type: application/json", b"Content-Length: %d" % len(BODY),
                 b"Content-Length: %d" % len(BODY), b"Connection: close"])
    assert _exchange(server, raw)[0] == 200


def test_limits_in_isolation() -> None:
    assert head_problem([(b"host", b"x")]) is None
    assert head_problem([(b"x-%d" % i, b"v") for i in range(MAX_HEADERS)]) is None
    assert head_problem([(b"x-%d" % i, b"v") for i in range(MAX_HEADERS + 1)])[0] == 431
    assert head_problem([(b"x", b"v" * MAX_HEADER_BYTES)])[0] == 431
    assert head_problem([(b"content-length", b"1"), (b"Content-Length", b"1")])[0] == 400


def test_a_client_that_hangs_up_mid_body_is_one_log_line(server, caplog) -> None:
    caplog.set_level(logging.INFO)
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(_post([b"Host: x", b"Content-Type: application/json", b"Content-Length: 5000"],
                           BODY[:20]))
        time.sleep(0.3)
    time.sleep(0.5)
    text = caplog.text
    assert "Exception in ASGI application" not in text and "Traceback" not in text, text
    _still_serving(server)


def test_a_port_in_use_or_an_unknown_host_is_refused_before_serving() -> None:
    from bigmodel.errors import BigModelError

    taken = bind("127.0.0.1", 0)
    try:
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BigModelError, match=f"cannot listen on 127.0.0.1:{port}"):
            bind("127.0.0.1", port)
    finally:
        taken.close()
    with pytest.raises(BigModelError, match="does not resolve"):
        bind("no-such-host.invalid", 0)
