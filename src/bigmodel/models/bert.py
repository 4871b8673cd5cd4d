"""BERT: the Transformer's encoder stack, pretrained with two objectives.

Every position sees every other (no causal mask); LayerNorm follows each residual (post-LN).

Masked language modeling (MLM). 15% of the input positions are selected; of those, 80% are
replaced by [MASK], 10% by a random token and 10% kept. With M the selected positions and
h_i (d_model,) the encoder's output there, the head predicts the original token:

    L_MLM = -(1/|M|) Σ_{i∈M} log softmax(W_o · LayerNorm(GELU(W_t h_i + b_t)) + b_o)[x_i]

    W_t: (d_model, d_model)   W_o: (vocab, d_model), tied to the token embeddings

Next sentence prediction (NSP). Input "[CLS] A [SEP] B [SEP]"; half the time B follows A
in the corpus (label 0 = IsNext), half the time B is random (label 1 = NotNext). The
pooled [CLS] state p = tanh(W_p h_[CLS] + b_p) feeds a binary classifier:

    L_NSP = -log softmax(W_s p + b_s)[y]                 W_s: (2, d_model)

Pretraining minimizes L = L_MLM + L_NSP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn import Embeddings, TransformerBlock, make_attention_bias
from ..nn.feedforward import activation
from .base import BigModel, ConfigBase, ModelOutput


@dataclass
class BertConfig(ConfigBase):
    model_type: ClassVar[str] = "bert"

    vocab_size: int = 30522
    max_seq_len: int = 512
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    d_ff: int = 3072
    activation: str = "gelu"
    dropout: float = 0.1
    attn_dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    type_vocab_size: int = 2
    pad_token_id: int = 0
    initializer_range: float = 0.02
    num_labels: int = 2
    id2label: dict[int, str] | None = None
    classifier_dropout: float | None = None
    # How the classifier reads a text longer than max_seq_len: "truncate" (its first tokens,
    # as transformers does) or "windows" (mean logits of windows covering it; fine-tuning's
    # task.long_texts writes it, tasks/text_classification.py reads it).
    long_texts: str = "truncate"

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")
        if self.id2label is not None:
            self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
            self.num_labels = len(self.id2label)


def mlm_loss(logits: Tensor, labels: Tensor, ignore_index: int = -100) -> Tensor:
    """L_MLM: cross-entropy at the selected positions; labels are -100 everywhere else."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=ignore_index)


def _init_bert_weights(module: nn.Module, std: float) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=std)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class BertModel(BigModel):
    """Embeddings (token + position + segment, LayerNorm) -> N post-LN blocks -> pooler.

    ``last_hidden_state`` (B, T, d_model); ``pooler_output`` (B, d_model) = tanh(W_p h_[CLS]).
    """

    family = "bert"
    architecture = "BertModel"
    config_class = BertConfig

    def __init__(self, config: BertConfig, *, add_pooler: bool = True) -> None:
        super().__init__(config)
        self.embeddings = Embeddings(
            config.vocab_size,
            config.d_model,
            config.max_seq_len,
            n_segments=config.type_vocab_size,
            layer_norm=True,
            layer_norm_eps=config.layer_norm_eps,
            dropout=config.dropout,
            padding_idx=config.pad_token_id,
        )
        self.blocks = nn.ModuleList(
            TransformerBlock(
                config.d_model,
                config.n_heads,
                config.d_ff,
                norm_first=False,
                activation=config.activation,
                dropout=config.dropout,
                attn_dropout=config.attn_dropout,
                layer_norm_eps=config.layer_norm_eps,
            )
            for _ in range(config.n_layers)
        )
        self.pooler = nn.Linear(config.d_model, config.d_model) if add_pooler else None
        self.apply(lambda m: _init_bert_weights(m, config.initializer_range))

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        *,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> ModelOutput:
        """input_ids, attention_mask (1 = token, 0 = padding), token_type_ids: (B, T)."""
        seq_len = input_ids.shape[1]
        if seq_len > self.config.max_seq_len:
            raise ValueError(f"sequence of {seq_len} tokens exceeds the context of {self.config.max_seq_len}")
        h = self.embeddings(input_ids, position_ids, token_type_ids)  # (B, T, d_model)
        attn_bias = make_attention_bias(attention_mask, h.dtype)
        all_hidden: list[Tensor] = [h] if output_hidden_states else []
        all_attn: list[Tensor] = []
        for block in self.blocks:
            h, weights, _ = block(h, attn_bias=attn_bias, need_weights=output_attentions)
            if output_hidden_states:
                all_hidden.append(h)
            if output_attentions:
                all_attn.append(weights)
        pooled = torch.tanh(self.pooler(h[:, 0])) if self.pooler is not None else None
        return ModelOutput(
            last_hidden_state=h,
            pooler_output=pooled,
            hidden_states=tuple(all_hidden) if output_hidden_states else None,
            attentions=tuple(all_attn) if output_attentions else None,
        )


class MLMHead(nn.Module):
    """W_o · LayerNorm(GELU(W_t h + b_t)) + b_o, with W_o tied to the token embeddings."""

    def __init__(self, config: BertConfig, token_embedding: nn.Embedding) -> None:
        super().__init__()
        self.activation = config.activation
        self.transform = nn.Linear(config.d_model, config.d_model)
        self.norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.d_model, config.vocab_size)
        self.decoder.weight = token_embedding.weight

    def forward(self, h: Tensor) -> Tensor:
        return self.decoder(self.norm(activation(self.activation, self.transform(h))))


class _BertWithHeads(BigModel):
    family = "bert"
    config_class = BertConfig

    def _encode(self, input_ids, attention_mask, token_type_ids, position_ids, hidden, attn) -> ModelOutput:
        return self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            position_ids,
            output_hidden_states=hidden,
            output_attentions=attn,
        )

    def _finish_init(self) -> None:
        # Re-initialize the heads (the encoder initialized itself); keep the tied decoder.
        for module in self.children():
            if module is not self.bert:
                module.apply(lambda m: _init_bert_weights(m, self.config.initializer_range)
                             if not isinstance(m, nn.Embedding) else None)
        if hasattr(self, "mlm_head"):
            self.mlm_head.decoder.weight = self.bert.embeddings.token.weight

    def _add_classifier(self, config: BertConfig) -> None:
        """Dropout + linear classifier (d_model -> num_labels), under transformers' names."""
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.dropout
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.d_model, config.num_labels)


class _BertWithLabelledHead(_BertWithHeads):
    """A head whose forward takes one ``labels`` tensor: logits from the encoder's output,
    and with labels a loss from the logits."""

    def _logits(self, out: ModelOutput) -> Tensor:
        raise NotImplementedError

    def _loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        labels: Tensor | None = None,
        *,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> ModelOutput:
        out = self._encode(input_ids, attention_mask, token_type_ids, position_ids,
                           output_hidden_states, output_attentions)
        out.logits = self._logits(out)
        if labels is not None:
            out.loss = self._loss(out.logits, labels)
        return out


class BertForPreTraining(_BertWithHeads):
    """BERT + MLM head + NSP head; with labels, loss = L_MLM + L_NSP."""

    architecture = "BertForPreTraining"

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config)
        self.mlm_head = MLMHead(config, self.bert.embeddings.token)
        self.nsp_head = nn.Linear(config.d_model, 2)
        self._finish_init()

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        labels: Tensor | None = None,
        next_sentence_label: Tensor | None = None,
        *,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> ModelOutput:
        """mlm_logits (B, T, vocab), nsp_logits (B, 2); ``logits`` is mlm_logits."""
        out = self._encode(input_ids, attention_mask, token_type_ids, position_ids,
                           output_hidden_states, output_attentions)
        out.mlm_logits = self.mlm_head(out.last_hidden_state)
        out.nsp_logits = self.nsp_head(out.pooler_output)
        out.logits = out.mlm_logits
        if labels is not None or next_sentence_label is not None:
            loss = torch.zeros((), device=input_ids.device)
            if labels is not None:
                loss = loss + mlm_loss(out.mlm_logits, labels)
            if next_sentence_label is not None:
                loss = loss + F.cross_entropy(out.nsp_logits.float(), next_sentence_label.reshape(-1))
            out.loss = loss
        return out


class BertForMaskedLM(_BertWithLabelledHead):
    """BERT (no pooler) + MLM head; ``logits`` (B, T, vocab)."""

    architecture = "BertForMaskedLM"

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooler=False)
        self.mlm_head = MLMHead(config, self.bert.embeddings.token)
        self._finish_init()

    def _logits(self, out: ModelOutput) -> Tensor:
        return self.mlm_head(out.last_hidden_state)

    def _loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        return mlm_loss(logits, labels)


class BertForSequenceClassification(_BertWithLabelledHead):
    """BERT + dropout + linear classifier on the pooled [CLS] state; ``logits`` (B, num_labels)."""

    architecture = "BertForSequenceClassification"

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config)
        self._add_classifier(config)
        self._finish_init()

    def _logits(self, out: ModelOutput) -> Tensor:
        return self.classifier(self.dropout(out.pooler_output))

    def _loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(logits.float(), labels.reshape(-1))


class BertForQuestionAnswering(_BertWithHeads):
    """BERT (no pooler) + a span head: two scores per token, where the answer starts and ends.

        [s_i, e_i] = W_qa h_i + b_qa        W_qa: (2, d_model)
        start_logits, end_logits: (B, T)

    With ``start_positions`` / ``end_positions`` (B,), loss = (CE(s, start) + CE(e, end)) / 2,
    a position outside the sequence clamped to T and ignored (as transformers does).
    """

    architecture = "BertForQuestionAnswering"

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooler=False)
        self.qa_outputs = nn.Linear(config.d_model, 2)
        self._finish_init()

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        start_positions: Tensor | None = None,
        end_positions: Tensor | None = None,
        *,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> ModelOutput:
        out = self._encode(input_ids, attention_mask, token_type_ids, position_ids,
                           output_hidden_states, output_attentions)
        logits = self.qa_outputs(out.last_hidden_state)  # (B, T, 2)
        out.start_logits, out.end_logits = (x.squeeze(-1).contiguous() for x in logits.split(1, dim=-1))
        if start_positions is not None and end_positions is not None:
            ignored = out.start_logits.shape[1]
            starts = start_positions.reshape(-1).clamp(0, ignored)
            ends = end_positions.reshape(-1).clamp(0, ignored)
            out.loss = (F.cross_entropy(out.start_logits.float(), starts, ignore_index=ignored)
                        + F.cross_entropy(out.end_logits.float(), ends, ignore_index=ignored)) / 2
        return out


class BertForTokenClassification(_BertWithLabelledHead):
    """BERT (no pooler) + dropout + a linear classifier on every token; ``logits`` (B, T, num_labels).

    With ``labels`` (B, T), loss = cross-entropy over the positions whose label is not -100
    (the padding and, for word-level tags, every sub-token after a word's first).
    """

    architecture = "BertForTokenClassification"

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooler=False)
        self._add_classifier(config)
        self._finish_init()

    def _logits(self, out: ModelOutput) -> Tensor:
        return self.classifier(self.dropout(out.last_hidden_state))

    def _loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        return mlm_loss(logits, labels)
