"""`bigmodel serve`: the OpenAI-compatible HTTP API and the playground page."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..devices import add_device_argument
from ..errors import BigModelError
from . import add_parser, positive_int


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "serve",
        "serve models over an OpenAI-compatible HTTP API, with a playground page at /",
        "  bigmodel serve --model tiny-gpt-zh\n"
        "  bigmodel serve --model tiny-gpt-en --model tiny-bert-en --embedding-model all-minilm-l6-v2 --port 8000\n"
        "  bigmodel serve --model runs/my-gpt --classifier runs/sentiment-zh --max-batch-size 16\n"
        "  # then: OpenAI(base_url='http://127.0.0.1:8000/v1', api_key='-').completions.create(...)\n",
    )
    parser.add_argument("-m", "--model", action="append", default=[], metavar="M",
                        help="a GPT (completions, chat), BERT masked LM (fill-mask), BERT question answering "
                        "(/v1/answer) or token classifier (/v1/tag); repeat for several")
    parser.add_argument("--embedding-model", action="append", default=[], metavar="E",
                        help="a sentence-embedding model for /v1/embeddings (e.g. all-minilm-l6-v2)")
    parser.add_argument("--classifier", action="append", default=[], metavar="C",
                        help="a fine-tuned text classifier for /v1/classify")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes it)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--max-batch-size", type=positive_int, default=8,
                        help="sequences decoded together in one forward pass (default 8)")
    parser.add_argument("--max-concurrency", type=positive_int, default=32,
                        help="sequences running or waiting; beyond it requests get 503 + Retry-After (default 32)")
    parser.add_argument("--max-body-mb", type=float, default=2.0, help="largest request body in MB (default 2)")
    parser.add_argument("--dtype", default=None, help="weights of the --model models: fp32, bf16 or fp16 "
                        "(bf16 decodes about twice as fast on CPUs with AVX-512 BF16)")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--no-access-log", action="store_true",
                        help="do not print a line per request (method, path, status, ms, tokens) on stderr")
    add_device_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise BigModelError(f"--port must be in 0..65535, got {args.port}")
    from ..validation import number

    # Within what an int of bytes can say; inf or nan would be no limit at all.
    number(args.max_body_mb, "--max-body-mb", low=0, high=1 << 20, low_open=True)
    try:
        import uvicorn

        from ..serve.access_log import log_to_stderr
        from ..serve.app import create_app
        from ..serve.http_guard import bind, uvicorn_options
    except ImportError as exc:
        raise BigModelError(f"serving needs the [serve] extra (fastapi, uvicorn): {exc}") from None
    if not args.no_access_log:
        log_to_stderr()  # one line per request on stderr (serve/access_log.py)
    # Bind first: a port in use or an unknown host is one line before any model loads.
    sock = bind(args.host, args.port)
    try:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        app = create_app(args.model, embedding_models=args.embedding_model, classifiers=args.classifier,
                         max_batch_size=args.max_batch_size, max_concurrency=args.max_concurrency,
                         max_body_bytes=int(args.max_body_mb * 1024 * 1024), dtype=args.dtype)
        names = ", ".join(app.state.registry.models)
        host = f"[{args.host}]" if ":" in args.host else args.host
        port = sock.getsockname()[1]
        print(f"serving {names} at http://{host}:{port} (playground: /, API: /v1)", file=sys.stderr, flush=True)
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5, access_log=False,
                                **uvicorn_options())
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0
