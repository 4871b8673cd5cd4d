"""Text generation: decoding strategies, logits processors, streaming.

``generate(model, input_ids, **kwargs)`` takes transformers' keyword names and returns a
LongTensor of prompt + new tokens; ``stream(model, input_ids, tokenizer, ...)`` yields
text deltas. See search.py, processors.py, streaming.py.

The names load on first use, so that reading the option list (options.py, which the CLI's
parser needs) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DecodeLoop": "search",
    "GenerationOptions": "options",
    "StopStrings": "search",
    "TextDeltas": "streaming",
    "TextIteratorStreamer": "streaming",
    "beam_search": "search",
    "generate": "search",
    "parse_options": "options",
    "stream": "streaming",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
