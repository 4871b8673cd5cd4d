"""bigmodel: learn, train and run the Transformer, BERT, GPT and ResNet.

The public API. Names are imported on first use, so ``import bigmodel`` stays quick and a
part you do not use (the server, images) never loads its dependencies.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import BigModelError

__version__ = "0.1.0"

# public name -> (module, attribute)
_EXPORTS: dict[str, tuple[str, str]] = {
    # models and checkpoints
    "load": ("bigmodel.hub", "load"),
    "create": ("bigmodel.hub", "create"),
    "load_tokenizer": ("bigmodel.tokenization", "load_tokenizer"),
    "train_tokenizer": ("bigmodel.tokenization", "train_tokenizer"),
    "GPT": ("bigmodel.models.gpt", "GPT"),
    "GPTConfig": ("bigmodel.models.gpt", "GPTConfig"),
    "BertConfig": ("bigmodel.models.bert", "BertConfig"),
    "BertModel": ("bigmodel.models.bert", "BertModel"),
    "BertForPreTraining": ("bigmodel.models.bert", "BertForPreTraining"),
    "BertForMaskedLM": ("bigmodel.models.bert", "BertForMaskedLM"),
    "BertForSequenceClassification": ("bigmodel.models.bert", "BertForSequenceClassification"),
    "BertForQuestionAnswering": ("bigmodel.models.bert", "BertForQuestionAnswering"),
    "BertForTokenClassification": ("bigmodel.models.bert", "BertForTokenClassification"),
    "Transformer": ("bigmodel.models.transformer", "Transformer"),
    "TransformerConfig": ("bigmodel.models.transformer", "TransformerConfig"),
    "ResNetConfig": ("bigmodel.models.resnet", "ResNetConfig"),
    "ResNetForImageClassification": ("bigmodel.models.resnet", "ResNetForImageClassification"),
    "GenerationConfig": ("bigmodel.decoding.model_defaults", "GenerationConfig"),
    # tasks
    "generate": ("bigmodel.tasks.generation", "generate"),
    "stream": ("bigmodel.tasks.generation", "stream"),
    "fill_mask": ("bigmodel.tasks.mask_filling", "fill_mask"),
    "embed": ("bigmodel.tasks.embeddings", "embed"),
    "classify": ("bigmodel.tasks.text_classification", "classify"),
    "classify_image": ("bigmodel.tasks.image_classification", "classify_image"),
    "detect": ("bigmodel.tasks.detection", "detect"),
    "answer": ("bigmodel.tasks.question_answering", "answer"),
    "tag": ("bigmodel.tasks.token_classification", "tag"),
    # training, adapters
    "train": ("bigmodel.training.trainer", "train"),
    "Trainer": ("bigmodel.training.trainer", "Trainer"),
    "apply_lora": ("bigmodel.nn.lora", "apply_lora"),
    "merge_lora": ("bigmodel.nn.lora", "merge_lora"),
    # understanding and choosing
    "plan": ("bigmodel.planning", "plan"),
}

__all__ = ["BigModelError", "__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bigmodel' has no attribute {name!r}")
    module_name, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
