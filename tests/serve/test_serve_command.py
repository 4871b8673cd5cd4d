"""`bigmodel serve` starts a server on loopback; mistakes are one line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bigmodel.cli import main
from bigmodel.serve.background import free_port

try:  # openai >= 3 ships httpx2; older clients use httpx (same API)
    import httpx2 as httpx
except ImportError:
    httpx = pytest.importorskip("httpx")
SRC = Path(__file__).resolve().parents[2] / "src"


def test_serve_answers_on_127_0_0_1_until_stopped(tiny_gpt: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "bigmodel", "serve", "--model", str(tiny_gpt), "--port", str(port),
                             "--threads", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.2)
        assert health.json()["models"] == ["tiny-gpt"]
        r = httpx.post(f"http://127.0.0.1:{port}/v1/completions",
                       json={"model": "tiny-gpt", "prompt": "Hi", "max_tokens": 3}, timeout=30)
        assert r.json()["usage"]["completion_tokens"] == 3
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}" in err


def test_a_missing_model_is_refused_before_listening(tmp_path, capsys) -> None:
    assert main(["serve", "--model", str(tmp_path / "missing"), "--port", "1"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_nothing_to_serve_is_a_clear_error(capsys) -> None:
    assert main(["serve"]) == 2
    assert "at least one model" in capsys.readouterr().err
