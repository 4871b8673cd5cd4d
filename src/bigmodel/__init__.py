"""bigmodel: learn, train and run the Transformer, BERT, GPT and ResNet."""

from .errors import BigModelError
from .hub import create, load
from .tasks.embeddings import embed

__version__ = "0.1.0"
__all__ = ["BigModelError", "create", "embed", "load"]
