"""Text generation: decoding strategies, logits processors, streaming.

``generate(model, input_ids, **kwargs)`` takes transformers' keyword names and returns a
LongTensor of prompt + new tokens; ``stream(model, input_ids, tokenizer, ...)`` yields
text deltas. See search.py, processors.py, streaming.py.
"""

from .options import GenerationOptions, parse_options
from .search import DecodeLoop, StopStrings, beam_search, generate
from .streaming import TextDeltas, TextIteratorStreamer, stream

__all__ = [
    "DecodeLoop",
    "GenerationOptions",
    "StopStrings",
    "TextDeltas",
    "TextIteratorStreamer",
    "beam_search",
    "generate",
    "parse_options",
    "stream",
]

