"""A seq2seq run on files with a tokenizer from `bigmodel tokenizer train` (BPE or WordPiece)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bigmodel.data.seq2seq import seq2seq_collator, seq2seq_special_ids
from bigmodel.errors import BigModelError
from bigmodel.tokenization import load_tokenizer
from bigmodel.training.trainer import train


def pairs_file(path: Path) -> Path:
    lines = ["the cat sat on a mat\tmat a on sat cat the", "a dog ran far away\taway far ran dog a",
             "big red door\tdoor red big", "the small house\thouse small the"]
    path.write_text("\n".join(lines * 4) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_a_trained_tokenizer_has_what_seq2seq_needs(corpus: dict[str, Path], tmp_path: Path, kind: str) -> None:
    tok = load_tokenizer(corpus[kind])
    ids = seq2seq_special_ids(tok)
    if kind == "bpe":  # <|endoftext|> starts and ends the target, <pad> pads
        assert (ids["bos"], ids["eos"], ids["pad"]) == (tok.eos_token_id, tok.eos_token_id, tok.pad_token_id)
    else:  # transformers' BERT2BERT: [CLS] starts the decoder, [SEP] ends it
        assert (ids["bos"], ids["eos"], ids["pad"]) == (tok.cls_token_id, tok.sep_token_id, tok.pad_token_id)
    batch = seq2seq_collator(tok)([(tok.encode("the cat", add_special_tokens=False),
                                    tok.encode("cat the", add_special_tokens=False))])
    assert batch["decoder_input_ids"][0, 0] == ids["bos"] and batch["labels"][0, -1] == ids["eos"]

    data = pairs_file(tmp_path / "pairs.tsv")
    result = train({
        "task": {"kind": "seq2seq"},
        "model": {"config": {"d_model": 32, "n_heads": 2, "n_encoder_layers": 1, "n_decoder_layers": 1,
                             "d_ff": 64, "dropout": 0.0}},
        "data": {"path": str(data), "validation_path": str(data), "tokenizer": str(corpus[kind]), "seq_len": 24},
        "train": {"out_dir": str(tmp_path / "run"), "max_steps": 3, "batch_size": 4, "warmup_steps": 1,
                  "eval_every": 0, "eval_batches": 1, "progress": False},
    })
    assert result["validation"]["loss"] > 0


def test_a_tokenizer_without_pad_says_how_to_add_one(tmp_path: Path) -> None:
    gpt2_style = load_tokenizer("tiny-gpt-en")  # GPT-2's specials: <|endoftext|> only
    with pytest.raises(BigModelError, match=r"needs a pad token.*add_special_tokens\(\{'pad_token'"):
        seq2seq_collator(gpt2_style)
    result = None
    with pytest.raises(BigModelError, match="needs a pad token"):
        result = train({
            "task": {"kind": "seq2seq"},
            "data": {"path": str(pairs_file(tmp_path / "p.tsv")), "tokenizer": "tiny-gpt-en", "seq_len": 16},
            "train": {"out_dir": str(tmp_path / "run"), "max_steps": 1, "progress": False},
        })
    assert result is None and not (tmp_path / "run" / "model.safetensors").exists()
