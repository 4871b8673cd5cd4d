"""bm.answer against transformers' v4 question-answering algorithm, computed here from its logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bigmodel as bm
from bigmodel.cli import main
from bigmodel.errors import BigModelError
from bigmodel.tokenization import load_tokenizer

transformers = pytest.importorskip("transformers")

QUESTION = "Who made the heaven and the earth?"
CONTEXT = ("In the beginning God created the heaven and the earth. And the earth was without form, "
           "and void; and darkness was upon the face of the deep. And the Spirit of God moved upon "
           "the face of the waters. And God said, Let there be light: and there was light.")


@pytest.fixture(scope="module")
def qa_folder(bert_en_folder):
    folder, vocab_size = bert_en_folder("tiny-qa")
    torch.manual_seed(5)
    config = transformers.BertConfig(vocab_size=vocab_size, max_position_embeddings=128, hidden_size=32,
                                     num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    transformers.BertForQuestionAnswering(config).eval().save_pretrained(folder)
    return folder


def reference_answers(folder, question, context, *, top_k, max_seq_len, doc_stride, max_answer_len):
    """transformers v4 QuestionAnsweringPipeline (preprocess, select_starts_ends, decode_spans)."""
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.BertForQuestionAnswering.from_pretrained(folder).eval()
    enc = tok(question, context, truncation="only_second", max_length=max_seq_len, stride=doc_stride,
              return_overflowing_tokens=True, return_offsets_mapping=True, return_token_type_ids=True,
              padding="longest", return_tensors="pt")
    with torch.no_grad():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                    token_type_ids=enc["token_type_ids"])
    answers = []
    for span in range(len(enc["input_ids"])):
        ids = enc["input_ids"][span].numpy()
        p_mask = np.array([s != 1 for s in enc.sequence_ids(span)])
        p_mask[ids == tok.cls_token_id] = 0
        undesired = np.abs(p_mask.astype(np.int64) - 1) & enc["attention_mask"][span].numpy()
        start = np.where(undesired == 0, -10000.0, out.start_logits[span].numpy())
        end = np.where(undesired == 0, -10000.0, out.end_logits[span].numpy())
        start = np.exp(start - start.max()) / np.exp(start - start.max()).sum()
        end = np.exp(end - end.max()) / np.exp(end - end.max()).sum()
        start[0] = end[0] = 0.0
        candidates = np.tril(np.triu(np.outer(start, end)), max_answer_len - 1)
        flat = candidates.flatten()
        order = np.argsort(-flat)[:top_k]
        for s, e in zip(*np.unravel_index(order, candidates.shape), strict=True):
            if not (undesired[s] and undesired[e]):
                continue
            encoding = enc.encodings[span]
            sw, ew = encoding.token_to_word(s), encoding.token_to_word(e)
            a, b = encoding.word_to_chars(sw, 1)[0], encoding.word_to_chars(ew, 1)[1]
            answers.append({"answer": context[a:b], "score": float(candidates[s, e]), "start": a, "end": b})
    return sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]


def _same(ours: list[dict], theirs: list[dict]) -> None:
    assert [(a["start"], a["end"], a["answer"]) for a in ours] == \
        [(a["start"], a["end"], a["answer"]) for a in theirs]
    assert np.allclose([a["score"] for a in ours], [a["score"] for a in theirs], rtol=1e-4, atol=1e-7)


def test_one_window_equals_transformers_algorithm(qa_folder) -> None:
    kwargs = dict(max_seq_len=128, doc_stride=32, max_answer_len=15)
    ours = bm.answer(QUESTION, CONTEXT, model=qa_folder, **kwargs)
    theirs = reference_answers(qa_folder, QUESTION, CONTEXT, top_k=1, **kwargs)
    assert set(ours) == {"answer", "score", "start", "end"}
    assert CONTEXT[ours["start"]:ours["end"]] == ours["answer"]
    _same([ours], theirs)


@pytest.mark.parametrize("top_k", [1, 3])
def test_context_longer_than_one_window_equals_transformers_algorithm(qa_folder, top_k: int) -> None:
    kwargs = dict(max_seq_len=28, doc_stride=6, max_answer_len=4)
    assert len(load_tokenizer(qa_folder).encode(CONTEXT)) > 28  # several windows
    ours = bm.answer(QUESTION, CONTEXT, model=qa_folder, top_k=top_k, **kwargs)
    theirs = reference_answers(qa_folder, QUESTION, CONTEXT, top_k=top_k, **kwargs)
    _same([ours] if top_k == 1 else ours, theirs)
    if top_k > 1:
        assert len(ours) == top_k


@pytest.mark.parametrize(("question", "context", "kwargs", "message"), [
    (QUESTION, "", {}, "context is empty"),
    (QUESTION, "   \n ", {}, "context is empty"),
    ("", CONTEXT, {}, "question is empty"),
    (QUESTION, CONTEXT, {"max_answer_len": 0}, "max_answer_len must be"),
    (QUESTION, "\u200b\u200b", {}, "context: has no tokens"),
    (QUESTION, "[SEP] [CLS]\n[PAD]", {}, "context: holds only special tokens"),
    (QUESTION * 20, CONTEXT, {}, "leave no room"),
    (QUESTION, CONTEXT, {"max_seq_len": 20, "doc_stride": 10}, "doc_stride=10 must be smaller"),
])
def test_bad_input_is_one_clear_error(qa_folder, question, context, kwargs, message) -> None:
    with pytest.raises(BigModelError, match=message):
        bm.answer(question, context, model=qa_folder, **kwargs)


def test_a_model_without_a_span_head_is_refused(tmp_path) -> None:
    with pytest.raises(BigModelError, match="not a question-answering model"):
        bm.answer(QUESTION, CONTEXT, model="tiny-bert-en")


def test_cli_answer_prints_the_span_and_json(qa_folder, tmp_path, capsys) -> None:
    context_file = tmp_path / "context.txt"
    context_file.write_text(CONTEXT, encoding="utf-8")
    assert main(["answer", "--question", QUESTION, "--context-file", str(context_file),
                 "--model", str(qa_folder), "--json", "--max-seq-len", "128"]) == 0
    import json

    printed = json.loads(capsys.readouterr().out)
    expected = bm.answer(QUESTION, CONTEXT, model=qa_folder, max_seq_len=128)
    assert printed["answer"] == expected["answer"] and printed["start"] == expected["start"]
    assert main(["answer", "--question", QUESTION, "--context", "  ", "--model", str(qa_folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: context is empty")
