"""Fine-tuning a token classifier (NER): ``[task] kind = "token_classification"``.

A pretrained BERT gets a linear head on every token
(:class:`~bigmodel.models.bert.BertForTokenClassification`) and learns the BIO tag of each
word of CoNLL-style sentences (see :mod:`bigmodel.data.conll`). A word may become several
sub-tokens; its tag is the label of the first and the rest get -100, so that

    L = -(1/|F|) Σ_{i∈F} log softmax(W h_i + b)[y_i]        F = first sub-tokens of words

Each evaluation tags the validation sentences (a word's tag = the argmax at its first
sub-token) and reports entity-level precision, recall and F1 as seqeval defines them (see
:mod:`bigmodel.span_metrics`).

Recipe::

    [task]
    kind = "token_classification"
    [model]
    pretrained = "tiny-bert-en"
    [data]
    path = "train.conll"                     # "token tag" per line, blank line between sentences
    validation_path = "dev.conll"            # or held out from path
    seq_len = 128
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..data.conll import TaggedSentence, label_list, read_conll
from ..errors import BigModelError
from ..tasks.span_evaluation import IGNORE, encode_words, first_subtoken_labels, word_tags
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

ARCHITECTURE = "BertForTokenClassification"


@dataclass
class TokenClassificationOptions:
    validation_fraction: float = 0.1  # held out when data.validation_path is empty
    split_seed: int = 0
    max_eval_examples: int = 0  # sentences tagged per evaluation for entity F1; 0 = all


class TaggedFeatures:
    """Sentences tokenized once: item i = (ids, labels per token)."""

    def __init__(self, sentences: list[TaggedSentence], label2id: dict[str, int], tokenizer: Any,
                 seq_len: int) -> None:
        self.rows: list[tuple[list[int], list[int]]] = []
        for sentence in sentences:
            encoding = encode_words(tokenizer, sentence.tokens, seq_len)
            labels = first_subtoken_labels(encoding.word_ids, [label2id[t] for t in sentence.tags])
            self.rows.append((encoding.ids, labels))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[list[int], list[int]]:
        return self.rows[i]


def collate_tagged(items: list[tuple[list[int], list[int]]], pad_token_id: int) -> dict[str, Tensor]:
    """Right-padded input_ids, attention_mask, labels (-100 at padding) (B, T)."""
    width = max(len(ids) for ids, _ in items)
    ids = torch.full((len(items), width), pad_token_id, dtype=torch.long)
    labels = torch.full_like(ids, IGNORE)
    mask = torch.zeros_like(ids)
    for row, (token_ids, token_labels) in enumerate(items):
        ids[row, :len(token_ids)] = torch.tensor(token_ids)
        labels[row, :len(token_labels)] = torch.tensor(token_labels)
        mask[row, :len(token_ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def build_tagger(pretrained: str, id2label: dict[int, str]) -> Any:
    """A pretrained BERT body with a fresh token head sized for ``id2label`` (training mode)."""
    source = read_pretrained(pretrained, ARCHITECTURE, "token classification")
    # A head for another label set (or sentences, not tokens) does not fit: start it afresh.
    refit = source.architecture in (ARCHITECTURE, "BertForSequenceClassification")
    return build_head_model(source, ARCHITECTURE, {"id2label": id2label, "num_labels": len(id2label)},
                            fresh_head="classifier." if refit else None)


@register_objective
class TokenClassification(Objective):
    """BIO tagging on CoNLL-style files, scored by entity-level F1."""

    name = "token_classification"
    default_architecture = ARCHITECTURE
    Options = TokenClassificationOptions

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        o = self.options
        check_finetuning_sources(config, "a CoNLL-style file (token tag per line)")
        if o.max_eval_examples < 0:
            raise BigModelError("config task.max_eval_examples must be >= 0")
        self.train_sentences, self.validation_sentences = read_train_validation(
            config, read_conll, "sentences", validation_fraction=o.validation_fraction, split_seed=o.split_seed)
        self.labels = label_list(self.train_sentences)
        unseen = sorted({t for s in self.validation_sentences for t in s.tags} - set(self.labels))
        if unseen:
            raise BigModelError(f"validation tags {unseen[:5]} never occur in the training file {config.data.path}")
        self.label2id = {t: i for i, t in enumerate(self.labels)}
        self.network: Any = None

    def build_tokenizer(self) -> Any:
        return pretrained_tokenizer(self.config)

    def build_model(self) -> Any:
        check_head_architecture(self.config, ARCHITECTURE, "token classification")
        model = build_tagger(self.config.model.pretrained, dict(enumerate(self.labels)))
        check_context(self.config, model)
        self.network = model
        return model

    def build_datasets(self) -> tuple[Any, Any | None]:
        seq_len = self.config.data.seq_len
        return (TaggedFeatures(self.train_sentences, self.label2id, self.tokenizer, seq_len),
                TaggedFeatures(self.validation_sentences, self.label2id, self.tokenizer, seq_len))

    def collate(self, items: list[Any], rng: np.random.Generator) -> dict[str, Tensor]:
        return collate_tagged(items, self.tokenizer.pad_token_id or 0)

    def count_tokens(self, batch: dict[str, Tensor]) -> int:
        return int(batch["attention_mask"].sum())

    def tag_validation(self, model: Any = None) -> dict[str, float]:
        """Entity precision, recall and F1 (fractions) of ``model`` on the validation sentences."""
        from ..span_metrics import entity_scores

        model = model if model is not None else self.network
        limit = self.options.max_eval_examples or len(self.validation_sentences)
        sentences = self.validation_sentences[:limit]
        predicted = [word_tags(model, self.tokenizer, s.tokens, self.config.data.seq_len) for s in sentences]
        scores = entity_scores([s.tags for s in sentences], predicted)
        return {f"entity_{k}": v for k, v in scores.items()}

    def summarize(self, metrics: dict[str, float]) -> dict[str, float]:
        return metrics | (self.tag_validation() if self.network is not None else {})


__all__ = ["TaggedFeatures", "TokenClassification", "TokenClassificationOptions", "build_tagger",
           "collate_tagged"]
