"""``train_tokenizer``: learn a byte-level BPE (GPT-2 style) or a WordPiece (BERT style)
vocabulary from text files with the Rust trainers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from tokenizers import Tokenizer as Backend
from tokenizers import pre_tokenizers, trainers

from bigmodel.errors import BigModelError

from .pipelines import rust_reason, set_bert_template, untrained_bpe, untrained_wordpiece
from .specials import BERT_SPECIALS, BPE_PAD, ENDOFTEXT, TRAINED_ROLES
from .tokenizer import Tokenizer

MAX_TRAIN_VOCAB = 2**24


def train_tokenizer(
    files: Sequence[str | Path],
    kind: Literal["bpe", "wordpiece"],
    vocab_size: int,
    out_dir: str | Path | None = None,
    *,
    min_frequency: int = 2,
    special_tokens: Sequence[str] | None = None,
    lowercase: bool = True,
    show_progress: bool = True,
) -> Tokenizer:
    """Train a byte-level BPE (GPT-2 style) or a WordPiece (BERT style) tokenizer.

    BPE starts from all 256 bytes, so every text encodes and ``decode(encode(x)) == x``;
    its special tokens are ``<|endoftext|>`` (bos, eos, unk) and ``<pad>`` (pad, as in BART;
    GPT-2's own tokenizer has none, so padded seq2seq batches could not tell it from EOS).
    WordPiece has ``[PAD]``, ``[UNK]``, ``[CLS]``, ``[SEP]``, ``[MASK]`` (a seq2seq run starts
    its decoder with ``[CLS]`` and ends it with ``[SEP]``, transformers' BERT2BERT convention),
    splits Chinese characters one per token, and lowercases (and strips accents) when ``lowercase``.
    ``special_tokens`` are extra ones, added after those.
    ``vocab_size`` is an upper bound: a small corpus can give fewer entries. The tokenizer
    is saved to ``out_dir`` when given.
    """
    _check_options(kind, vocab_size, min_frequency, special_tokens)
    paths = _check_corpus(files)

    base = [ENDOFTEXT, BPE_PAD] if kind == "bpe" else list(BERT_SPECIALS)
    extra = [t for t in dict.fromkeys(special_tokens or []) if t not in base]
    specials = base + extra
    if kind == "bpe":
        backend, trainer = _bpe_setup(vocab_size, min_frequency, specials, show_progress)
    else:
        backend = untrained_wordpiece(lowercase)
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=specials,
            show_progress=show_progress,
            continuing_subword_prefix="##",
        )
    try:
        backend.train([str(p) for p in paths], trainer)
    except Exception as e:  # e.g. a file that is not UTF-8
        names = ", ".join(map(str, paths))
        raise BigModelError(f"training on {names} failed ({rust_reason(e)})") from None
    if kind == "wordpiece":
        _finish_wordpiece(backend, vocab_size)

    tok = Tokenizer(
        backend,
        special_tokens=dict(TRAINED_ROLES[kind]),
        additional_special_tokens=extra,
        name_or_path=str(out_dir) if out_dir is not None else f"trained-{kind}",
    )
    if out_dir is not None:
        tok.save_pretrained(out_dir)
    return tok


def _check_options(
    kind: Any, vocab_size: Any, min_frequency: Any, special_tokens: Any
) -> None:
    if kind not in ("bpe", "wordpiece"):
        raise BigModelError(f'kind must be "bpe" or "wordpiece"; got {kind!r}')
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 1:
        raise BigModelError(f"vocab_size must be a positive integer; got {vocab_size!r}")
    if vocab_size > MAX_TRAIN_VOCAB:
        # The Rust trainer preallocates ~66 bytes per entry and aborts the whole process when
        # that fails (2**31 asked for 141.7 GB): refuse first.
        raise BigModelError(f"vocab_size must be at most {MAX_TRAIN_VOCAB:,} (2**24); got {vocab_size:,}")
    if not isinstance(min_frequency, int) or isinstance(min_frequency, bool) or min_frequency < 0:
        raise BigModelError(f"min_frequency must be a non-negative integer; got {min_frequency!r}")
    if special_tokens is not None and (
        isinstance(special_tokens, str) or not all(isinstance(t, str) and t for t in special_tokens)
    ):
        raise BigModelError("special_tokens must be a list of non-empty strings")


def _bpe_setup(
    vocab_size: int, min_frequency: int, specials: list[str], show_progress: bool
) -> tuple[Backend, trainers.Trainer]:
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if vocab_size < len(alphabet) + len(specials):
        raise BigModelError(
            f"vocab_size={vocab_size} is smaller than the byte-level alphabet "
            f"({len(alphabet)} bytes + {len(specials)} special tokens); use at least "
            f"{len(alphabet) + len(specials)}"
        )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=specials,
        initial_alphabet=alphabet,
        show_progress=show_progress,
    )
    return untrained_bpe(), trainer


def _finish_wordpiece(backend: Backend, vocab_size: int) -> None:
    # WordPiece keeps every character it saw (and its ##-form), whatever vocab_size says.
    got = backend.get_vocab_size(with_added_tokens=True)
    if got > vocab_size:
        raise BigModelError(
            f"vocab_size={vocab_size} is smaller than the corpus alphabet: WordPiece needs "
            f"{got} entries for its characters and special tokens; use at least {got}"
        )
    set_bert_template(backend, "[CLS]", "[SEP]", where="trained WordPiece")


def _check_corpus(files: Any) -> list[Path]:
    if isinstance(files, str | Path):
        files = [files]
    if not isinstance(files, Sequence) or not files:
        raise BigModelError("files must be a non-empty list of text files")
    paths = [Path(f).expanduser() for f in files]
    for p in paths:
        if not p.exists():
            raise BigModelError(f"corpus file {p} does not exist")
        if not p.is_file():
            raise BigModelError(f"corpus file {p} is not a file")
    if not any(_has_text(p) for p in paths):
        names = ", ".join(map(str, paths))
        raise BigModelError(f"corpus {names} is empty: expected some non-whitespace text")
    return paths


def _has_text(path: Path) -> bool:
    # Stops at the first chunk with text, so a multi-gigabyte corpus costs one read.
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            if chunk.strip():
                return True
    return False
