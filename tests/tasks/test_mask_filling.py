"""fill-mask ranks like transformers' fill-mask pipeline on a tiny random BertForMaskedLM."""

from __future__ import annotations

import json

import pytest
import torch

import bigmodel as bm
from bigmodel.errors import BigModelError
from bigmodel.tasks.mask_filling import fill_mask
from bigmodel.tokenization import load_tokenizer

transformers = pytest.importorskip("transformers")

WORDS = ("the capital of france is paris . a cat sat on mat dog ran to city big small red blue "
         "green house car tree sun moon star river sea hill road").split()


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True,
                                                              "tokenizer_class": "BertTokenizer"}))
    torch.manual_seed(4)
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=48, max_position_embeddings=64)
    hf = transformers.BertForMaskedLM(config).eval()
    hf.save_pretrained(folder)
    hf_tok = transformers.AutoTokenizer.from_pretrained(folder)
    return hf, hf_tok, folder


TEXTS = ["the capital of france is [MASK] .", "a [MASK] sat on the [MASK] ."]


def test_ranking_equals_transformers_pipeline(tiny_bert) -> None:
    hf, hf_tok, folder = tiny_bert
    pipe = transformers.pipeline("fill-mask", model=hf, tokenizer=hf_tok, top_k=6)
    ours = fill_mask(TEXTS, model=bm.load(folder), tokenizer=load_tokenizer(folder), top_k=6)
    theirs = [pipe(t) for t in TEXTS]
    assert [p["token"] for p in ours[0]] == [p["token"] for p in theirs[0]]
    assert ours[0][0]["sequence"] == theirs[0][0]["sequence"]
    assert ours[0][0]["token_str"] == theirs[0][0]["token_str"]
    for mine, other in zip(ours[1], theirs[1], strict=True):  # two masks: one list each
        assert [p["token"] for p in mine] == [p["token"] for p in other]
        assert [p["score"] for p in mine] == pytest.approx([p["score"] for p in other], abs=1e-5)


def test_single_text_single_mask_gives_one_list(tiny_bert) -> None:
    _, _, folder = tiny_bert
    out = fill_mask(TEXTS[0], model=str(folder), top_k=3)
    assert len(out) == 3 and out[0]["score"] >= out[1]["score"] >= out[2]["score"]


def test_text_without_mask_is_a_clear_error(tiny_bert) -> None:
    _, _, folder = tiny_bert
    with pytest.raises(BigModelError, match="MASK"):
        fill_mask("no mask here", model=str(folder))
    with pytest.raises(BigModelError, match="top_k"):
        fill_mask(TEXTS[0], model=str(folder), top_k=0)


def test_cli_fill_mask_json(tiny_bert, capsys) -> None:
    from bigmodel.cli import main

    _, _, folder = tiny_bert
    assert main(["fill-mask", TEXTS[0], "--model", str(folder), "--top-k", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and {"score", "token", "token_str", "sequence"} <= set(rows[0])
