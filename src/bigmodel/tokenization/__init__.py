"""Tokenizers: load GPT-2 byte-level BPE and BERT WordPiece files, or train new ones.

The Rust ``tokenizers`` library does the work; this package decides *which* pipeline a set of
files means (the same one transformers builds, so ids agree token for token), keeps the
special tokens in one place, and gives the batch call the transformers names
(``tok(texts, padding=..., truncation=..., return_tensors="pt")``).

    tokenizer.py       the Tokenizer wrapper: vocabulary, encode/decode, the batch call
    batches.py         the batch call's argument checks, pair truncation, BatchEncoding
    pipelines.py       the Rust pipelines (byte-level BPE, BERT WordPiece) files mean
    specials.py        special-token roles and each kind's defaults
    presets.py         tokenizer presets shipped by installed packages
    loading.py         load_tokenizer: a preset, a folder, a tokenizer.json or a model's name
    saving.py          save_pretrained's folder (the files transformers reads)
    vocab_training.py  train_tokenizer: BPE or WordPiece from text files
    windows.py         a text longer than the context as windows that cover all of it
"""

from __future__ import annotations

from .batches import BatchEncoding
from .loading import load_tokenizer
from .presets import PRESETS
from .tokenizer import Tokenizer
from .vocab_training import train_tokenizer

__all__ = ["PRESETS", "BatchEncoding", "Tokenizer", "load_tokenizer", "train_tokenizer"]
