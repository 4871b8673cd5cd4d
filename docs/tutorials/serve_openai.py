"""Serve a model over HTTP and call it with the official openai client.

    python docs/tutorials/serve_openai.py           # serves GPT-2 124M (downloaded once from the hub)
    python docs/tutorials/serve_openai.py --tiny    # serves a tiny random GPT, seconds, offline

In two shells this is ``bigmodel serve --model gpt2 --port 8000`` and then the client code
below; the playground page is at http://127.0.0.1:8000/.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from openai import APIConnectionError, OpenAI

import bigmodel as bm
from bigmodel.serve.background import free_port


def tiny_model(folder: Path) -> str:
    """A 2-layer GPT with GPT-2's tokenizer saved as a Hugging Face folder: what `serve` loads."""
    torch.manual_seed(0)
    bm.create("gpt2", n_layers=2, d_model=64, n_heads=4, max_seq_len=128, initializer_range=0.3).save_pretrained(folder)
    bm.load_tokenizer("gpt2").save_pretrained(folder)
    return str(folder)


def wait_until_up(client: OpenAI, server: subprocess.Popen, seconds: float = 120) -> list[str]:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return [m.id for m in client.models.list()]
        except APIConnectionError:
            if server.poll() is not None:
                raise SystemExit(f"the server exited: {server.stderr.read()}") from None
            if time.monotonic() > deadline:
                raise SystemExit("the server did not come up") from None
            time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", default=bool(os.environ.get("BIGMODEL_TUTORIAL_TINY")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        model = tiny_model(Path(folder) / "tiny-gpt") if args.tiny else "gpt2"
        port = free_port()
        # `bigmodel serve`, started as this Python's module so that it runs in the same environment
        server = subprocess.Popen([sys.executable, "-m", "bigmodel", "serve", "--model", model, "--port", str(port),
                                   "--threads", "1"], stderr=subprocess.PIPE, text=True)
        try:
            client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
            names = wait_until_up(client, server)
            print("models:", names)

            # 1. A completion: the usage counts what the model read and wrote.
            done = client.completions.create(model=names[0], prompt="The meaning of life is", max_tokens=16,
                                             temperature=0)
            print("completion:", repr(done.choices[0].text), dict(done.usage))
            assert done.usage.completion_tokens <= 16

            # 2. Streaming: chunks arrive as server-sent events while the model decodes.
            chunks = client.completions.create(model=names[0], prompt="Once upon a time", max_tokens=8,
                                               temperature=0, stream=True)
            print("streamed:", [chunk.choices[0].text for chunk in chunks if chunk.choices])

            # 3. Sampling with a seed is reproducible across calls.
            a, b = (client.completions.create(model=names[0], prompt="Hello", max_tokens=8, temperature=0.9,
                                              seed=7).choices[0].text for _ in range(2))
            assert a == b
            print("seeded samples agree:", repr(a))

            # 4. Scoring, as lm-evaluation-harness asks (echo + logprobs + max_tokens=0): the
            #    log-probability of each prompt token given the ones before it (the first has none).
            scored = client.completions.create(model=names[0], prompt="The cat sat on the mat", echo=True,
                                               logprobs=1, max_tokens=0).choices[0].logprobs
            print("log p(text) =", round(sum(scored.token_logprobs[1:]), 3), "over tokens", scored.tokens)

            # 5. Chat with the log-probabilities of the reply's tokens and their two best alternatives.
            reply = client.chat.completions.create(model=names[0], messages=[{"role": "user", "content": "Hi!"}],
                                                   max_tokens=4, temperature=0, logprobs=True, top_logprobs=2)
            print("chat:", repr(reply.choices[0].message.content),
                  [(t.token, round(t.logprob, 2)) for t in reply.choices[0].logprobs.content])
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
