"""Token texts and offsets for logprobs: split characters, stop strings, the chosen token's entry."""

from __future__ import annotations

from bigmodel.serve.logprobs import (
    ScoredToken,
    TokenNames,
    completion_logprobs,
    text_pieces,
    tokens_in_text,
)
from bigmodel.tokenization import load_tokenizer


def test_pieces_never_split_a_character_and_concatenate_to_the_text() -> None:
    tok = load_tokenizer("gpt2")
    text = "猫 sat 🐈 here"
    ids = tok.encode(text, add_special_tokens=False)
    pieces = text_pieces(tok, ids)
    assert len(pieces) == len(ids) > len(text.split())
    assert "".join(pieces) == text
    assert "\ufffd" not in "".join(pieces)


def test_a_stop_string_keeps_only_the_tokens_of_the_returned_text() -> None:
    pieces = ["Hello", ",", " world", "\n", "User", ":"]
    assert tokens_in_text(pieces, "Hello, world\nUser:") == 6
    assert tokens_in_text(pieces, "Hello, world") == 3
    assert tokens_in_text(pieces, "Hello, wor") == 3  # the token that crosses the cut stays
    assert tokens_in_text(["a", ""], "a") == 2  # an EOS (no text) after the last piece is kept


def test_top_logprobs_hold_the_top_n_and_the_chosen_token() -> None:
    tok = load_tokenizer("gpt2")
    a, b, c = (tok.encode(w, add_special_tokens=False)[0] for w in ("A", "B", "C"))
    scored = [ScoredToken(a, None), ScoredToken(c, -2.0, [(b, -0.5)])]
    out = completion_logprobs(TokenNames(tok), scored, ["A", "C"], start_offset=3)
    assert out == {"tokens": ["A", "C"], "token_logprobs": [None, -2.0],
                   "top_logprobs": [None, {"B": -0.5, "C": -2.0}], "text_offset": [3, 4]}
