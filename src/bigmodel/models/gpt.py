"""GPT: the Transformer's decoder stack without cross-attention (GPT-2 layout).

A GPT models text left to right with the causal factorization

    p(x_1, ..., x_T) = Π_i p(x_i | x_<i)

and is trained to minimize the causal language-modeling loss, the mean negative
log-likelihood of each next token:

    L = -(1/N) Σ_{i} log softmax(h_i Eᵀ)[x_{i+1}]      h_i: (d_model,), E: (vocab, d_model)

where h_i is the last layer's state at position i (it has seen x_≤i only, thanks to the
causal mask) and E is the token-embedding matrix reused as the output layer (tied
embeddings). GPT-2 places LayerNorm before each sub-layer (pre-LN) and once more at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn import Embeddings, KVCache, TransformerBlock, make_attention_bias
from .base import BigModel, ConfigBase, ModelOutput


@dataclass
class GPTConfig(ConfigBase):
    model_type: ClassVar[str] = "gpt2"

    vocab_size: int = 50257
    max_seq_len: int = 1024
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    d_ff: int | None = None
    activation: str = "gelu_new"
    dropout: float = 0.1
    attn_dropout: float = 0.1
    layer_norm_eps: float = 1e-5
    bias: bool = True
    tie_embeddings: bool = True
    bos_token_id: int | None = 50256
    eos_token_id: int | None = 50256
    pad_token_id: int | None = None
    initializer_range: float = 0.02
    num_labels: int = 2
    id2label: dict[int, str] | None = None

    def __post_init__(self) -> None:
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")


GPT_PRESETS: dict[str, dict[str, int]] = {
    "gpt2": dict(n_layers=12, d_model=768, n_heads=12),
    "gpt2-medium": dict(n_layers=24, d_model=1024, n_heads=16),
    "gpt2-large": dict(n_layers=36, d_model=1280, n_heads=20),
    "gpt2-xl": dict(n_layers=48, d_model=1600, n_heads=25),
}


def causal_lm_loss(logits: Tensor, labels: Tensor, ignore_index: int = -100) -> Tensor:
    """Mean of -log p(x_{i+1} | x_≤i): logits (B, T, V) at i are scored against labels at i+1.

    Positions whose label is ``ignore_index`` (padding, prompts) do not count.
    """
    shift_logits = logits[:, :-1, :].reshape(-1, logits.shape[-1])
    shift_labels = labels[:, 1:].reshape(-1)
    return F.cross_entropy(shift_logits.float(), shift_labels, ignore_index=ignore_index)


class GPTModel(BigModel):
    """Embeddings -> N pre-LN causal blocks -> final LayerNorm: (B, T) ids -> (B, T, d_model)."""

    family = "gpt"
    architecture = "GPT2Model"
    config_class = GPTConfig

    def __init__(self, config: GPTConfig) -> None:
        super().__init__(config)
        self.embeddings = Embeddings(
            config.vocab_size, config.d_model, config.max_seq_len, dropout=config.dropout
        )
        self.blocks = nn.ModuleList(
            TransformerBlock(
                config.d_model,
                config.n_heads,
                config.d_ff,
                norm_first=True,
                causal=True,
                activation=config.activation,
                dropout=config.dropout,
                attn_dropout=config.attn_dropout,
                layer_norm_eps=config.layer_norm_eps,
                bias=config.bias,
            )
            for _ in range(config.n_layers)
        )
        self.final_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.apply(self._init_weights)
        # GPT-2: scale the residual projections by 1/√(2·n_layers), the two residual adds
        # per block, so the variance of the residual stream does not grow with depth.
        for name, p in self.named_parameters():
            if name.endswith("out_proj.weight") or name.endswith("fc_out.weight"):
                nn.init.normal_(p, mean=0.0, std=config.initializer_range / (2 * config.n_layers) ** 0.5)

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)

    def new_kv_cache(
        self, batch_size: int, max_len: int | None = None, dtype: torch.dtype | None = None
    ) -> KVCache:
        config = self.config
        return KVCache(
            config.n_layers,
            batch_size,
            config.n_heads,
            config.d_model // config.n_heads,
            max_len or config.max_seq_len,
            dtype=dtype or self.dtype,
            device=self.device,
        )

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        position_ids: Tensor | None = None,
        *,
        kv_cache: KVCache | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> ModelOutput:
        """input_ids (B, T); attention_mask (B, past + T) with 1 = token, 0 = padding."""
        batch, seq_len = input_ids.shape
        past = len(kv_cache) if kv_cache is not None else 0
        if past + seq_len > self.config.max_seq_len:
            raise ValueError(
                f"sequence of {past + seq_len} tokens exceeds the context of {self.config.max_seq_len}"
            )
        if position_ids is None:
            position_ids = torch.arange(past, past + seq_len, device=input_ids.device).unsqueeze(0)
        h = self.embeddings(input_ids, position_ids)  # (B, T, d_model)
        attn_bias = make_attention_bias(attention_mask, h.dtype)
        all_hidden: list[Tensor] = [h] if output_hidden_states else []
        all_attn: list[Tensor] = []
        for i, block in enumerate(self.blocks):
            h, weights, _ = block(
                h, attn_bias=attn_bias, kv_cache=kv_cache, layer_idx=i, need_weights=output_attentions
            )
            if output_hidden_states:
                all_hidden.append(h)
            if output_attentions:
                all_attn.append(weights)
        h = self.final_norm(h)
        if output_hidden_states:
            # Like transformers: the last entry is after the final LayerNorm.
            all_hidden[-1] = h
        return ModelOutput(
            last_hidden_state=h,
            hidden_states=tuple(all_hidden) if output_hidden_states else None,
            attentions=tuple(all_attn) if output_attentions else None,
            past_key_values=kv_cache,
        )


class GPT(BigModel):
    """GPT language model: GPTModel + LM head tied to the token embeddings.

    ``GPT(config)(input_ids).logits`` is (B, T, vocab); with ``labels`` the output also
    carries the causal LM loss.
    """

    family = "gpt"
    architecture = "GPT2LMHeadModel"
    config_class = GPTConfig

    def __init__(self, config: GPTConfig) -> None:
        super().__init__(config)
        self.transformer = GPTModel(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.transformer.embeddings.token.weight
        else:
            nn.init.normal_(self.lm_head.weight, mean=0.0, std=config.initializer_range)

    def new_kv_cache(
        self, batch_size: int, max_len: int | None = None, dtype: torch.dtype | None = None
    ) -> KVCache:
        return self.transformer.new_kv_cache(batch_size, max_len, dtype)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        position_ids: Tensor | None = None,
        labels: Tensor | None = None,
        *,
        kv_cache: KVCache | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        logits_to_keep: int = 0,
    ) -> ModelOutput:
        """Logits (B, T, vocab); ``logits_to_keep=k`` computes only the last k positions
        (generation needs just the last, which saves a (T, d_model) x (d_model, vocab) matmul).
        """
        out = self.transformer(
            input_ids,
            attention_mask,
            position_ids,
            kv_cache=kv_cache,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        h = out.last_hidden_state
        if logits_to_keep > 0:
            h = h[:, -logits_to_keep:]
        out.logits = self.lm_head(h)
        if labels is not None:
            out.loss = causal_lm_loss(out.logits, labels)
        return out

    def generate(self, input_ids: Tensor, **kwargs: Any) -> Tensor:
        """Continue ``input_ids`` (B, T); the same keywords as transformers' ``generate``."""
        from ..generate import generate

        return generate(self, input_ids, **kwargs)
