"""Fine-tuning extractive question answering: ``[task] kind = "question_answering"``.

A pretrained BERT gets a span head (:class:`~bigmodel.models.bert.BertForQuestionAnswering`)
and learns, for "[CLS] question [SEP] context-window [SEP]", where the answer starts and
ends:

    L = (CE(start_logits, i*) + CE(end_logits, j*)) / 2

with i*, j* the answer's first and last token. A context longer than ``data.seq_len`` tokens
is cut into windows sharing ``doc_stride`` tokens (as :func:`bigmodel.answer` does); a window
that does not hold the whole answer is trained to point at [CLS] (i* = j* = 0), as
transformers' ``run_qa.py`` does. Each evaluation also answers the validation questions with
:func:`bigmodel.answer` and reports SQuAD's exact match and F1 (see
:mod:`bigmodel.span_metrics`).

Recipe::

    [task]
    kind = "question_answering"
    [model]
    pretrained = "tiny-bert-en"              # any bigmodel BERT, or a local HF folder
    [data]
    path = "train.json"                      # SQuAD v1.1 format
    validation_path = "dev.json"             # or held out from path
    seq_len = 384
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..data.squad import QAExample, read_squad
from ..errors import BigModelError
from .objectives import Objective, register_objective
from .pretrained_finetuning import (
    build_head_model,
    check_context,
    check_finetuning_sources,
    check_head_architecture,
    pretrained_tokenizer,
    read_pretrained,
    read_train_validation,
)

ARCHITECTURE = "BertForQuestionAnswering"


@dataclass
class QuestionAnsweringOptions:
    doc_stride: int = 128  # context tokens consecutive windows share
    max_answer_len: int = 15  # longest answer, in tokens, at evaluation
    validation_fraction: float = 0.1  # held out when data.validation_path is empty
    split_seed: int = 0
    max_eval_examples: int = 0  # questions answered per evaluation for EM/F1; 0 = all


def answer_tokens(window: Any, start_char: int, end_char: int) -> tuple[int, int]:
    """(first, last) token of the answer characters [start_char, end_char) in a window, or
    (0, 0) ([CLS]) when the window does not hold the whole answer."""
    context = [i for i, s in enumerate(window.sequence_ids) if s == 1]
    offsets = window.offsets
    if not context or offsets[context[0]][0] > start_char or offsets[context[-1]][1] < end_char:
        return 0, 0
    first = max(i for i in context if offsets[i][0] <= start_char)
    last = min(i for i in context if offsets[i][1] >= end_char)
    return first, max(first, last)


class SpanFeatures:
    """Every window of every example: (ids, type_ids, start token, end token)."""

    def __init__(self, examples: list[QAExample], tokenizer: Any, seq_len: int, doc_stride: int) -> None:
        from ..tasks.question_answering import context_windows

        self.rows: list[tuple[list[int], list[int], int, int]] = []
        for example in examples:
            text, start = example.answers[0]
            for window in context_windows(tokenizer, example.question, example.context, seq_len, doc_stride):
                first, last = answer_tokens(window, start, start + len(text))
                self.rows.append((window.ids, window.type_ids, first, last))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[list[int], list[int], int, int]:
        return self.rows[i]


def collate_spans(items: list[tuple[list[int], list[int], int, int]], pad_token_id: int) -> dict[str, Tensor]:
    """Right-padded input_ids, token_type_ids, attention_mask (B, T); start/end_positions (B,)."""
    width = max(len(ids) for ids, *_ in items)
    ids = torch.full((len(items), width), pad_token_id, dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for row, (token_ids, type_ids, _, _) in enumerate(items):
        ids[row, :len(token_ids)] = torch.tensor(token_ids)
        types[row, :len(type_ids)] = torch.tensor(type_ids)
        mask[row, :len(token_ids)] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask,
            "start_positions": torch.tensor([s for *_, s, _ in items]),
            "end_positions": torch.tensor([e for *_, e in items])}


@register_objective
class QuestionAnswering(Objective):
    """Span extraction on SQuAD-format JSON, scored by exact match and F1."""

    name = "question_answering"
    default_architecture = ARCHITECTURE
    Options = QuestionAnsweringOptions

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        o = self.options
        check_finetuning_sources(config, "a SQuAD-format .json file")
        if o.doc_stride < 0 or o.max_answer_len < 1 or o.max_eval_examples < 0:
            raise BigModelError("config task.doc_stride and task.max_eval_examples must be >= 0 and "
                                "task.max_answer_len >= 1")
        self.train_examples, self.validation_examples = read_train_validation(
            config, read_squad, "questions", validation_fraction=o.validation_fraction, split_seed=o.split_seed)
        self.network: Any = None

    def build_tokenizer(self) -> Any:
        return pretrained_tokenizer(self.config)

    def build_model(self) -> Any:
        check_head_architecture(self.config, ARCHITECTURE, "question answering")
        source = read_pretrained(self.config.model.pretrained, ARCHITECTURE, "question answering")
        model = build_head_model(source, ARCHITECTURE)
        check_context(self.config, model)
        self.network = model
        return model

    def _stride(self) -> int:
        return min(self.options.doc_stride, self.config.data.seq_len // 2)

    def build_datasets(self) -> tuple[Any, Any | None]:
        seq_len = self.config.data.seq_len
        train = SpanFeatures(self.train_examples, self.tokenizer, seq_len, self._stride())
        validation = SpanFeatures(self.validation_examples, self.tokenizer, seq_len, self._stride())
        return train, validation

    def collate(self, items: list[Any], rng: np.random.Generator) -> dict[str, Tensor]:
        return collate_spans(items, self.tokenizer.pad_token_id or 0)

    def count_tokens(self, batch: dict[str, Tensor]) -> int:
        return int(batch["attention_mask"].sum())

    def answer_validation(self, model: Any = None) -> dict[str, float]:
        """SQuAD exact match and F1 (percent) of ``model`` on the validation questions."""
        from ..span_metrics import squad_scores
        from ..tasks.question_answering import answer

        model = model if model is not None else self.network
        limit = self.options.max_eval_examples or len(self.validation_examples)
        examples = self.validation_examples[:limit]
        predictions = [answer(e.question, e.context, model, tokenizer=self.tokenizer,
                              max_seq_len=self.config.data.seq_len, doc_stride=self._stride(),
                              max_answer_len=self.options.max_answer_len)["answer"] for e in examples]
        return squad_scores(predictions, [[text for text, _ in e.answers] for e in examples])

    def summarize(self, metrics: dict[str, float]) -> dict[str, float]:
        return metrics | (self.answer_validation() if self.network is not None else {})


__all__ = ["QuestionAnswering", "QuestionAnsweringOptions", "SpanFeatures", "answer_tokens", "collate_spans"]
