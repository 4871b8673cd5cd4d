"""Special tokens: the roles a tokenizer can fill and the tokens each kind uses by default."""

from __future__ import annotations

from typing import Any

from bigmodel.errors import BigModelError

ENDOFTEXT = "<|endoftext|>"
BPE_PAD = "<pad>"  # a trained BPE's padding: seq2seq batches need one distinct from BOS/EOS
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
ROLES = ("bos", "eos", "unk", "pad", "cls", "sep", "mask")
# Used only for roles a folder's config does not mention, and only when the token exists.
DEFAULT_SPECIALS: dict[str, dict[str, str]] = {
    "bpe": {"bos": ENDOFTEXT, "eos": ENDOFTEXT, "unk": ENDOFTEXT},
    "wordpiece": {"unk": "[UNK]", "pad": "[PAD]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"},
}
# The roles of a freshly trained tokenizer of each kind.
TRAINED_ROLES: dict[str, dict[str, str | None]] = {
    "bpe": {"bos": ENDOFTEXT, "eos": ENDOFTEXT, "unk": ENDOFTEXT, "pad": BPE_PAD},
    "wordpiece": {"unk": "[UNK]", "pad": "[PAD]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"},
}


def token_text(value: Any, what: str) -> str | None:
    """The text of a special token as a config gives it."""
    # transformers writes special tokens either as strings or as AddedToken dicts.
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    raise BigModelError(f"{what}: expected a token string; got {value!r}"[:300])
