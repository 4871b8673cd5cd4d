"""The HTTP service: an OpenAI-compatible API with continuous batching, and a playground page.

``bigmodel serve --model M`` runs it; in Python::

    from bigmodel.serve import BackgroundServer, create_app
    with BackgroundServer(create_app(["tiny-gpt-zh"])) as server:
        ...  # OpenAI(base_url=server.url + "/v1", api_key="-")

See app.py (the app and its routers), batching.py (shared forward passes), schemas.py
(request checks), background.py (a server in a thread).
FastAPI and uvicorn come with the [serve] extra, so importing this package needs them.
"""

from .app import create_app
from .background import BackgroundServer
from .batching import BatchEngine, SamplingParams

__all__ = ["BackgroundServer", "BatchEngine", "SamplingParams", "create_app"]
