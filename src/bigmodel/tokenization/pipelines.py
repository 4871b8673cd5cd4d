"""The Rust pipelines a set of files means: GPT-2's byte-level BPE and BERT's WordPiece.

Each builder sets the same normalizer, pre-tokenizer, decoder and post-processor that
transformers builds for those files, so ids agree token for token.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer as Backend
from tokenizers import decoders, models, normalizers, pre_tokenizers, processors

from bigmodel.errors import BigModelError

from .specials import token_text

WORDPIECE_MAX_WORD = 100  # characters; a longer word is one [UNK], as in BERT


def rust_reason(exc: Exception) -> str:
    """The first line of an error from the Rust side (it raises plain Exception for all)."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def read_tokenizer_json(path: Path) -> Backend:
    try:
        return Backend.from_file(str(path))
    except Exception as e:
        raise BigModelError(f"{path} is not a valid tokenizer.json ({rust_reason(e)})") from None


def byte_level_bpe(vocab: Path, merges: Path) -> Backend:
    """The GPT-2 pipeline: byte-level regex split, BPE over bytes, no unknown token."""
    try:
        model = models.BPE.from_file(str(vocab), str(merges))
    except Exception as e:
        raise BigModelError(
            f"{vocab} / {merges}: not a valid BPE vocabulary ({rust_reason(e)})"
        ) from None
    backend = Backend(model)
    set_byte_level(backend)
    return backend


def untrained_bpe() -> Backend:
    """An empty byte-level BPE for the trainer to fill."""
    backend = Backend(models.BPE())
    set_byte_level(backend)
    return backend


def set_byte_level(backend: Backend) -> None:
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)


def bert_wordpiece(vocab: Path, config: dict[str, Any]) -> Backend:
    """The BERT pipeline from vocab.txt, honouring do_lower_case and friends in the config."""
    unk = token_text(config.get("unk_token", "[UNK]"), f"{vocab.parent}: unk_token") or "[UNK]"
    try:
        model = models.WordPiece.from_file(
            str(vocab), unk_token=unk, max_input_chars_per_word=WORDPIECE_MAX_WORD
        )
    except Exception as e:
        raise BigModelError(f"{vocab} is not a valid WordPiece vocabulary ({rust_reason(e)})") from None
    backend = Backend(model)
    set_bert_pipeline(
        backend,
        lowercase=config.get("do_lower_case", True) is not False,
        chinese_chars=config.get("tokenize_chinese_chars", True) is not False,
        strip_accents=config.get("strip_accents"),
    )
    cls = token_text(config.get("cls_token", "[CLS]"), f"{vocab.parent}: cls_token") or "[CLS]"
    sep = token_text(config.get("sep_token", "[SEP]"), f"{vocab.parent}: sep_token") or "[SEP]"
    set_bert_template(backend, cls, sep, where=str(vocab))
    return backend


def untrained_wordpiece(lowercase: bool) -> Backend:
    """An empty WordPiece for the trainer to fill; Chinese characters split one per token."""
    backend = Backend(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=WORDPIECE_MAX_WORD))
    set_bert_pipeline(backend, lowercase=lowercase, chinese_chars=True, strip_accents=None)
    return backend


def set_bert_pipeline(
    backend: Backend, *, lowercase: bool, chinese_chars: bool, strip_accents: bool | None
) -> None:
    """BERT's normalizer, whitespace-and-punctuation split and ##-joining decoder."""
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=chinese_chars,
        strip_accents=strip_accents,
        lowercase=lowercase,
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")


def set_bert_template(backend: Backend, cls: str, sep: str, *, where: str) -> None:
    """``[CLS] A [SEP]`` and ``[CLS] A [SEP] B [SEP]`` with token type 1 for B."""
    ids = {t: backend.token_to_id(t) for t in (cls, sep)}
    missing = [t for t, i in ids.items() if i is None]
    if missing:
        raise BigModelError(f"{where}: special tokens {missing} are not in the vocabulary")
    backend.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, ids[cls]), (sep, ids[sep])],
    )


def bert_normalizer_flags(backend: Backend) -> dict[str, Any]:
    """do_lower_case, tokenize_chinese_chars, strip_accents as the backend's normalizer has them
    (what tokenizer_config.json tells transformers' BertTokenizer)."""
    flags: dict[str, Any] = {
        "do_lower_case": False,
        "tokenize_chinese_chars": False,
        "strip_accents": None,
    }
    normalizer = json.loads(backend.to_str()).get("normalizer") or {}
    parts = normalizer.get("normalizers", [normalizer])
    for part in parts:
        if part.get("type") == "BertNormalizer":
            flags.update(
                do_lower_case=part.get("lowercase", True),
                tokenize_chinese_chars=part.get("handle_chinese_chars", True),
                strip_accents=part.get("strip_accents"),
            )
        elif part.get("type") == "Lowercase":
            flags["do_lower_case"] = True
    return flags
