"""The HTTP service: OpenAI-compatible endpoints, task endpoints and the playground page.

    GET  /v1/models                 the served models (only these names are valid)   meta_routes.py
    POST /v1/completions            prompt(s) -> text; SSE with ``stream: true``     completion_routes.py
    POST /v1/chat/completions       messages -> reply (the model's chat template, if any)
    POST /v1/embeddings             text(s) -> vectors, float or base64              task_routes.py
    POST /v1/fill-mask              BERT's [MASK] filled, top-k
    POST /v1/classify               label scores of a text classifier
    POST /v1/attention              attention weights of a text, for the heatmap
    POST /v1/answer, /v1/tag        extractive QA, named entities
    GET  /health, /metrics          liveness; Prometheus text                        meta_routes.py
    GET  /                          the playground (static/index.html, no build step) playground.py

Generation requests go through one :class:`~bigmodel.serve.batching.BatchEngine` per
causal LM, so concurrent requests share forward passes (an encoder-decoder goes through
:class:`~bigmodel.serve.seq2seq.Seq2SeqEngine`, one request at a time); every other endpoint
calls the same task function as the CLI. Errors come back in OpenAI's shape,
``{"error": {"message", "type", "param", "code"}}`` (api_error.py), with 400 for a bad
request (the message names the field), 413 for a body over the limit, 503 + Retry-After when
the generation queue is full. ``tools``, ``functions`` and a ``response_format`` other than
text are a 400. Each request is one line on the ``bigmodel.serve.access`` logger
(access_log.py).

:func:`create_app` loads the models (served_models.py) and keeps, in ``app.state``, the
``registry`` of served models, the ``metrics`` and ``max_body_bytes``, which the routers read.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from ..errors import BigModelError
from . import completion_routes, meta_routes, task_routes
from .access_log import AccessLog
from .api_error import install_error_handlers
from .metrics import Metrics
from .playground import add_playground
from .request_body import DEFAULT_MAX_BODY
from .served_models import CLASSIFY, EMBED, GENERATE, Registry, ServedModel, load_served

__all__ = ["create_app"]


def _load_all(models: list[str], embedding_models: list[str], classifiers: list[str], *,
              max_batch_size: int, max_concurrency: int, dtype: str | None) -> list[ServedModel]:
    limits = {"max_batch_size": max_batch_size, "max_concurrency": max_concurrency}
    served = [load_served(source, GENERATE, dtype=dtype, **limits) for source in models]
    served += [load_served(source, EMBED, **limits) for source in embedding_models]
    served += [load_served(source, CLASSIFY, **limits) for source in classifiers]
    return served


def create_app(models: list[str] | None = None, *, embedding_models: list[str] | None = None,
               classifiers: list[str] | None = None, max_batch_size: int = 8, max_concurrency: int = 32,
               max_body_bytes: int = DEFAULT_MAX_BODY, dtype: str | None = None,
               preloaded: list[ServedModel] | None = None) -> FastAPI:
    """The FastAPI app serving these models (loaded now, so a bad name fails at start-up).

    ``dtype`` ("bf16", "fp32" ...) applies to the generation and fill-mask models; embedding
    models and classifiers keep the dtype they were saved in.
    """
    served = list(preloaded or []) + _load_all(models or [], embedding_models or [], classifiers or [],
                                               max_batch_size=max_batch_size, max_concurrency=max_concurrency,
                                               dtype=dtype)
    if not served:
        raise BigModelError("give at least one model to serve (--model, --embedding-model or --classifier)")
    registry = Registry(served)
    metrics = Metrics([m.engine for m in served if m.engine is not None])

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        for m in served:
            if m.engine is not None:
                m.engine.close()

    app = FastAPI(title="bigmodel", version="1", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.registry = registry
    app.state.metrics = metrics
    app.state.max_body_bytes = max_body_bytes
    app.add_middleware(metrics.middleware_class())
    app.add_middleware(AccessLog)
    install_error_handlers(app)
    for router in (meta_routes.router, completion_routes.router, task_routes.router):
        app.include_router(router)
    add_playground(app)
    return app
