"""Text corpora -> memory-mapped token files, and the datasets that read them.

``prepare_corpus(files, tokenizer, out_dir)`` writes one folder::

    meta.json                 dtype, vocab size, counts, the tokenizer used
    train.bin / validation.bin          token ids, uint16 when the vocabulary fits, else uint32;
                                        each document followed by EOS (when the tokenizer has one)
    train.sentences.npy / ...           (S, 2) int64 [start, end) of each sentence in the .bin
    train.documents.npy / ...           (D + 1,) int64: document d owns sentences [docs[d], docs[d+1])
    tokenizer/                          the tokenizer, so the folder is self-contained

A document is a block of lines separated by a blank line (``split_by="blank_line"``), each
line one sentence (BERT's next-sentence pairs need them); or each line its own document
(``split_by="line"``). Whole documents go to the validation split, chosen by a seeded draw.

Causal LM reads the .bin as one stream (:class:`CausalLMDataset`); MLM + NSP reads the
sentence spans (:class:`SentencePairDataset`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BigModelError
from ..fileio import atomic_write, atomic_write_text, read_json_object

FORMAT = "bigmodel-tokens"
SPLITS = ("train", "validation")
UINT16_LIMIT = 1 << 16


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 holds ids < 65,536 (half the disk and page cache of uint32)."""
    return np.dtype(np.uint16) if vocab_size <= UINT16_LIMIT else np.dtype(np.uint32)


def read_documents(files: Sequence[str | Path], split_by: str = "blank_line") -> Iterator[list[str]]:
    """Yield each document as its list of non-empty, stripped lines (its sentences)."""
    if split_by not in ("blank_line", "line"):
        raise BigModelError(f'split_by must be "blank_line" or "line", got {split_by!r}')
    for name in files:
        path = Path(name)
        doc: list[str] = []
        try:
            with path.open(encoding="utf-8") as handle:
                for raw in handle:
                    line = raw.strip()
                    if split_by == "line":
                        if line:
                            yield [line]
                    elif line:
                        doc.append(line)
                    elif doc:
                        yield doc
                        doc = []
        except UnicodeDecodeError:
            raise BigModelError(f"corpus file {path} is not UTF-8 text") from None
        if doc:
            yield doc


def _check_files(files: Sequence[str | Path]) -> list[Path]:
    if isinstance(files, str | Path):
        files = [files]
    paths = [Path(f).expanduser() for f in files]
    if not paths:
        raise BigModelError("files: expected at least one text file")
    for p in paths:
        if not p.is_file():
            raise BigModelError(f"corpus file {p} does not exist" if not p.exists() else f"corpus file {p} is not a file")
    if not any(_has_text(p) for p in paths):
        raise BigModelError(f"corpus {', '.join(map(str, paths))} is empty: expected some text")
    return paths


def _has_text(path: Path) -> bool:
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            if chunk.strip():
                return True
    return False


def _validation_documents(num_docs: int, fraction: float, seed: int) -> np.ndarray:
    count = max(1, round(num_docs * fraction))
    rng = np.random.default_rng(seed)
    chosen = np.zeros(num_docs, dtype=bool)
    chosen[rng.choice(num_docs, size=min(count, num_docs - 1), replace=False)] = True
    return chosen


def prepare_corpus(
    files: Sequence[str | Path],
    tokenizer: Any,
    out_dir: str | Path,
    *,
    validation_fraction: float = 0.05,
    split_by: str = "blank_line",
    seed: int = 0,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Tokenize ``files`` into ``out_dir`` (layout in the module docstring); returns meta.

    ``tokenizer`` is a :class:`bigmodel.tokenization.Tokenizer` or a name/path for
    ``load_tokenizer``. Every file is written to a temporary name first, meta.json last, so a
    reader never sees a half-prepared folder as complete.
    """
    from tqdm.auto import tqdm

    from ..tokenization import load_tokenizer

    paths = _check_files(files)
    if not 0.0 < validation_fraction < 1.0:
        raise BigModelError(f"validation_fraction must be between 0 and 1, got {validation_fraction}")
    tok = load_tokenizer(tokenizer) if isinstance(tokenizer, str | Path) else tokenizer
    vocab_size = len(tok)
    dtype = token_dtype(vocab_size)
    eos = tok.eos_token_id

    # Per document: its token array and sentence lengths. Corpora here are small enough
    # (tens of MB) to hold; the arrays are numpy, not Python int lists.
    docs_tokens: list[np.ndarray] = []
    docs_lengths: list[np.ndarray] = []
    total_bytes = sum(p.stat().st_size for p in paths)
    bar = tqdm(total=total_bytes, unit="B", unit_scale=True, desc="tokenizing", disable=not show_progress,
               leave=False)
    batch: list[list[str]] = []

    # Byte-level BPE sees whitespace: keep the line break between a document's sentences
    # so the stream reads as the text did. WordPiece drops whitespace anyway.
    newline = "\n" if getattr(tok, "kind", "bpe") == "bpe" else ""

    def flush() -> None:
        lines = [line + (newline if k < len(doc) - 1 else "") for doc in batch for k, line in enumerate(doc)]
        encoded = tok.backend.encode_batch(lines, add_special_tokens=False)
        at = 0
        for doc in batch:
            ids = [e.ids for e in encoded[at:at + len(doc)]]
            at += len(doc)
            lengths = np.array([len(x) for x in ids], dtype=np.int64)
            if lengths.sum() == 0:
                continue
            docs_tokens.append(np.fromiter((i for x in ids for i in x), dtype=np.int64, count=int(lengths.sum())))
            docs_lengths.append(lengths)
            bar.update(sum(len(line.encode("utf-8")) + 1 for line in doc))
        batch.clear()

    try:
        for doc in read_documents(paths, split_by):
            batch.append(doc)
            if len(batch) >= 512:
                flush()
        flush()
    except BaseException:
        bar.leave = False  # erase the bar so the error line stands alone
        bar.close()
        raise
    bar.close()

    _check_document_count(len(docs_tokens), paths)
    in_validation = _validation_documents(len(docs_tokens), validation_fraction, seed)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "meta.json").unlink(missing_ok=True)  # the folder is incomplete until meta.json returns
    splits: dict[str, Any] = {}
    max_id = 0
    for split, want in (("train", False), ("validation", True)):
        chosen = [i for i in range(len(docs_tokens)) if bool(in_validation[i]) == want]
        splits[split], split_max = _write_split(out, split, [docs_tokens[i] for i in chosen],
                                                [docs_lengths[i] for i in chosen], eos, dtype)
        max_id = max(max_id, split_max)

    tok_dir = out / "tokenizer"
    tmp_dir = out / ".tokenizer.tmp"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tok.save_pretrained(tmp_dir)
    shutil.rmtree(tok_dir, ignore_errors=True)
    tmp_dir.rename(tok_dir)

    meta = {
        "format": FORMAT,
        "version": 1,
        "dtype": dtype.name,
        "vocab_size": vocab_size,
        "max_token_id": max_id,
        "eos_token_id": eos,
        "split_by": split_by,
        "files": [str(p) for p in paths],
        "splits": splits,
        "tokenizer": "tokenizer",
    }
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return meta


def _check_document_count(count: int, paths: list[Path]) -> None:
    if count == 0:
        names = ", ".join(map(str, paths))
        raise BigModelError(f"corpus {names} is empty: expected some text")
    if count < 2:
        raise BigModelError(
            "the corpus has a single document; a train/validation split needs at least 2 "
            "(separate documents with a blank line, or use --split-by line)"
        )


def _write_split(out: Path, split: str, docs_tokens: list[np.ndarray], docs_lengths: list[np.ndarray],
                 eos: int | None, dtype: np.dtype) -> tuple[dict[str, int], int]:
    """SPLIT.bin (the documents' tokens, each followed by ``eos`` when there is one),
    SPLIT.sentences.npy (S, 2) and SPLIT.documents.npy; (its counts, its largest id)."""
    pieces: list[np.ndarray] = []
    sentences: list[np.ndarray] = []
    doc_starts = [0]
    offset = 0
    for tokens_of_doc, lengths in zip(docs_tokens, docs_lengths, strict=True):
        ends = offset + np.cumsum(lengths)
        sentences.append(np.stack([ends - lengths, ends], axis=1))
        pieces.append(tokens_of_doc)
        offset += int(lengths.sum())
        if eos is not None:
            pieces.append(np.array([eos], dtype=np.int64))
            offset += 1
        doc_starts.append(doc_starts[-1] + len(lengths))
    tokens = np.concatenate(pieces).astype(dtype)
    spans = np.concatenate(sentences).astype(np.int64)
    atomic_write(out / f"{split}.bin", lambda p: tokens.tofile(p))
    atomic_write(out / f"{split}.sentences.npy", lambda p: _save_npy(p, spans))
    atomic_write(out / f"{split}.documents.npy",
                 lambda p: _save_npy(p, np.array(doc_starts, dtype=np.int64)))
    counts = {"tokens": int(tokens.size), "sentences": int(spans.shape[0]), "documents": len(docs_tokens)}
    return counts, int(tokens.max())


def _save_npy(path: str, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array)


@dataclass
class TokenCorpus:
    """One split of a prepared folder: tokens (memory-mapped) and sentence spans."""

    tokens: np.ndarray  # (N,) uint16 | uint32
    sentences: np.ndarray  # (S, 2) int64
    documents: np.ndarray  # (D + 1,) int64
    meta: dict[str, Any]
    directory: Path

    @classmethod
    def open(cls, directory: str | Path, split: str = "train", vocab_size: int | None = None) -> TokenCorpus:
        """Open ``split``; with ``vocab_size`` (the tokenizer's or model's) check the ids fit."""
        directory = Path(directory)
        meta = read_meta(directory)
        if split not in meta["splits"]:
            raise BigModelError(f"{directory} has no split {split!r}; it has {', '.join(meta['splits'])}")
        dtype = np.dtype(meta["dtype"])
        if vocab_size is not None:
            check_token_file(directory, meta, vocab_size)
        path = directory / f"{split}.bin"
        expected = meta["splits"][split]["tokens"]
        size = path.stat().st_size if path.is_file() else -1
        if size != expected * dtype.itemsize:
            raise BigModelError(
                f"{path} holds {max(size, 0)} bytes, expected {expected} {dtype.name} tokens; "
                f"re-run `bigmodel prepare`"
            )
        tokens = np.memmap(path, dtype=dtype, mode="r", shape=(expected,))
        sentences = _load_offsets(directory / f"{split}.sentences.npy")
        documents = _load_offsets(directory / f"{split}.documents.npy")
        return cls(tokens, sentences, documents, meta, directory)

    @property
    def num_documents(self) -> int:
        return len(self.documents) - 1


def _load_offsets(path: Path) -> np.ndarray:
    """An offsets array; never unpickles (an object array is refused, not run)."""
    try:
        offsets = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise BigModelError(f"{path} is missing; re-run `bigmodel prepare`") from None
    except (OSError, ValueError, EOFError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise BigModelError(f"{path} is not a plain integer array ({reason}); re-run `bigmodel prepare`") from None
    if offsets.dtype.kind not in "iu":
        raise BigModelError(f"{path} holds a {offsets.dtype} array of shape {offsets.shape}, expected "
                            f"integer offsets; re-run `bigmodel prepare`")
    return offsets


def read_meta(directory: str | Path) -> dict[str, Any]:
    directory = Path(directory)
    path = directory / "meta.json"
    if not path.is_file():
        if directory.is_dir():
            raise BigModelError(f"{directory} is not a prepared corpus (no meta.json); run `bigmodel prepare` first")
        raise BigModelError(f"data folder {directory} does not exist; run `bigmodel prepare FILES --out {directory}`")
    meta = read_json_object(path, "corpus metadata")
    if meta.get("format") != FORMAT:
        raise BigModelError(f"{path} is not a bigmodel token folder (format {meta.get('format')!r})")
    return meta


def check_token_file(directory: Path, meta: dict[str, Any], vocab_size: int) -> None:
    """The stored ids must be readable (dtype wide enough) and inside the vocabulary."""
    dtype = np.dtype(meta["dtype"])
    if vocab_size > UINT16_LIMIT and dtype == np.uint16:
        raise BigModelError(
            f"{directory} stores token ids as uint16 but the vocabulary has {vocab_size} entries "
            f"(more than 65,536); re-run `bigmodel prepare` with this tokenizer"
        )
    if meta.get("max_token_id", 0) >= vocab_size:
        raise BigModelError(
            f"{directory} holds token id {meta['max_token_id']} but the vocabulary has only "
            f"{vocab_size} entries; it was prepared with another tokenizer: re-run `bigmodel prepare`"
        )


def load_corpus_tokenizer(directory: str | Path) -> Any:
    from ..tokenization import load_tokenizer

    meta = read_meta(directory)
    return load_tokenizer(Path(directory) / meta.get("tokenizer", "tokenizer"))


class CausalLMDataset:
    """Consecutive windows of ``seq_len`` tokens from the stream; item i starts at i·seq_len."""

    def __init__(self, corpus: TokenCorpus, seq_len: int) -> None:
        self.corpus = corpus
        self.seq_len = seq_len
        self.length = corpus.tokens.size // seq_len
        if self.length < 1:
            raise BigModelError(
                f"{corpus.directory} has {corpus.tokens.size} tokens, fewer than seq_len={seq_len}; "
                f"use more text or a smaller data.seq_len"
            )

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> np.ndarray:
        start = index * self.seq_len
        return np.asarray(self.corpus.tokens[start:start + self.seq_len], dtype=np.int64)


class SentencePairDataset:
    """BERT pretraining segments: consecutive sentences of one document, split into A and B.

    Sentences are grouped greedily into chunks of at most ``seq_len - 3`` tokens (room for
    [CLS] A [SEP] B [SEP]); chunk i splits after its first half of sentences (a one-sentence
    chunk splits mid-sentence). The NSP collator may swap B for a random segment.
    """

    def __init__(self, corpus: TokenCorpus, seq_len: int) -> None:
        self.corpus = corpus
        self.max_tokens = seq_len - 3
        if self.max_tokens < 2:
            raise BigModelError(f"data.seq_len={seq_len} is too short for sentence pairs; use at least 5")
        chunks: list[tuple[int, int, int]] = []  # (first sentence, end sentence, document)
        spans = corpus.sentences
        for d in range(corpus.num_documents):
            s, end = int(corpus.documents[d]), int(corpus.documents[d + 1])
            start, used = s, 0
            for k in range(s, end):
                n = int(spans[k, 1] - spans[k, 0])
                if used and used + n > self.max_tokens:
                    chunks.append((start, k, d))
                    start, used = k, 0
                used += n
            if end > start:
                chunks.append((start, end, d))
        self.chunks = [c for c in chunks if self._chunk_tokens(c) >= 2]
        if not self.chunks:
            raise BigModelError(f"{corpus.directory} has no sentences long enough for sentence pairs")

    def _chunk_tokens(self, chunk: tuple[int, int, int]) -> int:
        spans = self.corpus.sentences
        return int(spans[chunk[1] - 1, 1] - spans[chunk[0], 0])

    def _tokens(self, first: int, end: int) -> np.ndarray:
        spans = self.corpus.sentences
        parts = [self.corpus.tokens[spans[k, 0]:spans[k, 1]] for k in range(first, end)]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, index: int) -> dict[str, Any]:
        first, end, doc = self.chunks[index]
        if end - first >= 2:
            cut = first + (end - first) // 2
            a, b = self._tokens(first, cut), self._tokens(cut, end)
        else:
            whole = self._tokens(first, end)
            half = len(whole) // 2
            a, b = whole[:half], whole[half:]
        return {"a": a, "b": b, "document": doc, "source": self}

    def random_segment(self, rng: np.random.Generator, length: int, avoid_document: int) -> np.ndarray:
        """About ``length`` tokens of consecutive sentences from a random other document."""
        docs = self.corpus.num_documents
        doc = int(rng.integers(docs))
        if docs > 1 and doc == avoid_document:
            doc = (doc + 1 + int(rng.integers(docs - 1))) % docs
        s, end = int(self.corpus.documents[doc]), int(self.corpus.documents[doc + 1])
        k = s + int(rng.integers(max(1, end - s)))
        out: list[np.ndarray] = []
        total = 0
        while k < end and total < max(1, length):
            piece = self._tokens(k, k + 1)
            out.append(piece)
            total += len(piece)
            k += 1
        segment = np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
        return segment[: max(1, length)]


__all__ = [
    "CausalLMDataset",
    "SentencePairDataset",
    "TokenCorpus",
    "check_token_file",
    "load_corpus_tokenizer",
    "prepare_corpus",
    "read_documents",
    "read_meta",
    "token_dtype",
]
