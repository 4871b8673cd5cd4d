"""``Tokenizer``: a byte-level BPE (GPT-2) or WordPiece (BERT) around ``tokenizers.Tokenizer``.

Padding and truncation are done here per call and never switched on in the backend: the
backend object is shared (a server encodes from several threads), and its padding and
truncation settings are global state that one call would leak into the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from tokenizers import AddedToken, Encoding, models
from tokenizers import Tokenizer as Backend

from bigmodel.errors import BigModelError

from .batches import (
    BatchEncoding,
    as_batch,
    check_call_options,
    check_str,
    longest_first,
    padded_width,
    padding_mode,
)
from .saving import write_tokenizer_folder
from .specials import ROLES


class Tokenizer:
    """A byte-level BPE (GPT-2) or WordPiece (BERT) tokenizer around ``tokenizers.Tokenizer``.

    ``backend`` is the Rust tokenizer. Special tokens are available by role as
    ``<role>_token`` / ``<role>_token_id`` for bos, eos, unk, pad, cls, sep, mask (None
    when the tokenizer has none: GPT-2 has no pad token, BERT no bos/eos).
    """

    def __init__(
        self,
        backend: Backend,
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
        check_str(text, "text")
        if text_pair is not None:
            check_str(text_pair, "text_pair")
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
        texts, pairs = as_batch(text, text_pair)
        pad_mode = padding_mode(padding)
        check_call_options(padding_side, return_tensors, truncation, max_length)
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

        width = padded_width(lengths, pad_mode, limit, return_tensors)

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
                n1, n2 = longest_first(len(first.ids), len(second.ids), budget)
                if n2 < len(second.ids):
                    second.truncate(n2)
            if n1 < len(first.ids):
                first.truncate(n1)
            result.append(self.backend.post_process(first, second, add_special_tokens))
        return result

    # ---- saving -----------------------------------------------------------------------

    # ---- saving -----------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write tokenizer.json, the classic vocab files and the configs transformers reads.

        Files are written to a temporary folder beside them and renamed into place, so an
        interrupted save never leaves a half-written file. Returns the folder.
        """
        return write_tokenizer_folder(self, directory)

    def __repr__(self) -> str:
        return (
            f"Tokenizer(name_or_path={self.name_or_path!r}, kind={self.kind!r}, "
            f"vocab_size={self.vocab_size}, model_max_length={self.model_max_length})"
        )


