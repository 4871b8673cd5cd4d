"""What the serving benchmarks share: `bigmodel serve` in its own process on a free loopback
port, the HTTP client, and the server's resident memory."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def httpx_module() -> Any:
    try:
        import httpx2 as httpx  # the name the httpx client is installed under here
    except ImportError:
        import httpx
    return httpx


def rss_kib(pid: int) -> int:
    """VmRSS of process ``pid`` in KiB (0 when /proc does not say)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def served(serve_args: list[str], deadline_s: float = 300) -> Iterator[tuple[str, subprocess.Popen[str], list[str]]]:
    """Run ``bigmodel serve SERVE_ARGS --port P`` until the block ends; yields (url, process,
    names of the served models) once /health answers."""
    sys.path.insert(0, str(ROOT / "src"))
    from bigmodel.serve.background import free_port

    httpx = httpx_module()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "bigmodel", "serve", *serve_args, "--port", str(port)]
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + deadline_s
        while True:
            try:
                names = httpx.get(url + "/health", timeout=2).json()["models"]
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    err = server.stderr.read() if server.stderr else ""
                    raise SystemExit(f"server did not start: {err}") from None
                time.sleep(0.3)
        yield url, server, names
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
