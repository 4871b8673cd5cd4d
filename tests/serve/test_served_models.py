"""What a model can be served for is asked of the model (its heads), not of its family name."""

from __future__ import annotations

import pytest
from torch import nn

from bigmodel.errors import BigModelError
from bigmodel.models.bert import (
    BertConfig,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForTokenClassification,
    BertModel,
)
from bigmodel.models.gpt import GPT, GPTConfig
from bigmodel.models.transformer import Transformer, TransformerConfig
from bigmodel.serve.served_models import serving_capabilities

BERT = BertConfig(vocab_size=40, max_seq_len=16, d_model=16, n_layers=1, n_heads=2, d_ff=32)


@pytest.mark.parametrize(("model", "expected"), [
    (GPT(GPTConfig(vocab_size=40, max_seq_len=16, d_model=16, n_layers=1, n_heads=2)), ["generate", "attention"]),
    (Transformer(TransformerConfig(vocab_size=40, d_model=16, n_heads=2, d_ff=24, n_encoder_layers=1,
                                   n_decoder_layers=1)), ["generate"]),
    (BertForMaskedLM(BERT), ["fill-mask", "attention"]),
    (BertForQuestionAnswering(BERT), ["answer"]),
    (BertForTokenClassification(BERT), ["tag"]),
], ids=["causal-lm", "encoder-decoder", "masked-lm", "qa", "ner"])
def test_each_shipped_kind_serves_what_its_heads_allow(model: nn.Module, expected: list[str]) -> None:
    assert serving_capabilities(model, "generate") == expected


class _OwnCausalLM(nn.Module):
    """A causal LM of no known family: an LM head and a KV cache are what generation needs."""

    family = "my-family"

    def __init__(self) -> None:
        super().__init__()
        self.lm_head = nn.Linear(4, 8)

    def new_kv_cache(self, batch_size: int, max_len: int) -> None:
        return None


def test_a_model_of_another_family_with_an_lm_head_is_served_for_generation() -> None:
    assert serving_capabilities(_OwnCausalLM(), "generate") == ["generate", "attention"]


def test_roles_given_at_start_up_decide_embedding_and_classifier_models() -> None:
    assert serving_capabilities(BertModel(BERT), "embed") == ["embed", "attention"]
    assert serving_capabilities(BertModel(BERT), "classify") == ["classify", "attention"]


def test_a_model_without_a_servable_head_is_one_clear_error() -> None:
    with pytest.raises(BigModelError, match="--model .*this is BertModel.*--embedding-model"):
        serving_capabilities(BertModel(BERT), "generate")
