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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn import Embeddings, KVCache, TransformerBlock, losses, make_attention_bias
from ..nn.attention import CachedAttention, GrowingCacheAttention, StaticCacheAttention
from ..nn.fast_linear import inference_linear
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


STATIC_CACHE_BUCKET = 128  # cache lengths of the compiled static decode step: multiples of this
# Inductor settings of the static step: freezing folds (and pre-packs) the weights as
# constants; the CPP backend offers its micro-GEMM templates beside aten's kernels.
STATIC_STEP_INDUCTOR = {"freezing": True, "max_autotune_gemm_backends": "CPP,ATEN"}


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

    def fused_blocks(self, h: Tensor, attention: CachedAttention,
                     fused: list[Callable[..., Tensor]] | None = None) -> Tensor:
        """h (B, T, d) through every block's fused inference path with the cache variant
        ``attention``; ``fused``: the blocks' paths when already built."""
        for i, block in enumerate(fused if fused is not None else [b.fused() for b in self.blocks]):
            h = block(h, attention, i)
        return h

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
        if kv_cache is not None and not (output_hidden_states or output_attentions or self.training):
            # Each block's fused path is built on the first call of a generation and kept in
            # its cache for every token after it.
            fused = kv_cache.model_state.get("fused_blocks")
            if fused is None or len(fused) != len(self.blocks):
                fused = [block.fused() for block in self.blocks]
                kv_cache.model_state["fused_blocks"] = fused
            h = self.fused_blocks(h, GrowingCacheAttention(kv_cache, attn_bias), fused)
            return ModelOutput(last_hidden_state=self.final_norm(h), past_key_values=kv_cache)
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


class StaticDecodeStep(nn.Module):
    """One decoding step of a :class:`GPT` with every tensor shape fixed, for ``torch.compile``.

    The eager decode path attends to ``keys[:, :, :past + 1]``, a length that grows each step;
    a compiler then needs dynamic shapes, and inductor's fast CPU matmul templates (AMX/AVX-512
    micro-GEMMs over weights pre-packed by "freezing") only apply to static ones. Here each
    block runs its fused path with :class:`~bigmodel.nn.attention.StaticCacheAttention`: the
    whole cache (B, nh, L, hs), L = ``kv_cache.max_len``, later positions masked. Inputs:
    input_ids and position_ids (B, 1), ``allowed`` (B, 1, 1, L) bool, ``position`` (1,) long,
    the cache's key and value lists (written in place). Returns the logits (B, 1, vocab).
    """

    def __init__(self, model: GPT) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor, position_ids: Tensor, allowed: Tensor, position: Tensor,
                keys: list[Tensor], values: list[Tensor]) -> Tensor:
        body = self.model.transformer
        h = body.embeddings(input_ids, position_ids)  # (B, 1, d)
        h = body.fused_blocks(h, StaticCacheAttention(keys, values, allowed, position))
        return self.model.lm_head(body.final_norm(h))


class GPT(BigModel):
    """GPT language model: GPTModel + LM head tied to the token embeddings.

    ``GPT(config)(input_ids).logits`` is (B, T, vocab); with ``labels`` the output also
    carries the causal LM loss.
    """

    family = "gpt"
    architecture = "GPT2LMHeadModel"
    config_class = GPTConfig
    # Set by use_static_decode_step: decodes each token after the prompt (a plain callable,
    # not a submodule: it holds this model).
    _static_step: Callable[..., Tensor] | None = None

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
        if max_len is not None and self._static_step is not None:
            # The compiled static step is specialized to the cache length: round it up so that
            # generations of different lengths share a few compilations.
            max_len = min(self.config.max_seq_len, -(-max_len // STATIC_CACHE_BUCKET) * STATIC_CACHE_BUCKET)
        return self.transformer.new_kv_cache(batch_size, max_len, dtype)

    def use_static_decode_step(self, step: Callable[..., Tensor] | None = None) -> None:
        """Decode every token after the prompt through the fixed-shape :class:`StaticDecodeStep`
        (``step``: that module compiled or wrapped; default: the module itself, eager), with
        cache lengths rounded up to multiples of ``STATIC_CACHE_BUCKET``. The prompt (prefill)
        still runs the growing-cache path."""
        self._static_step = step if step is not None else StaticDecodeStep(self).eval().__call__

    def _compile_decoding(self) -> None:
        """On a CPU: the :class:`StaticDecodeStep`, compiled with inductor's max-autotune and
        weight freezing, decodes every token after the prompt; elsewhere ``forward`` compiles
        with dynamic shapes."""
        if self.device.type != "cpu":
            super()._compile_decoding()
            return
        compiled = torch.compile(StaticDecodeStep(self).eval(), dynamic=False, mode="max-autotune")

        def compiled_step(*args: Any) -> Tensor:
            # The settings must be in force when the first call of each shape compiles.
            with torch._inductor.config.patch(STATIC_STEP_INDUCTOR), torch.no_grad():
                return compiled(*args)

        self.use_static_decode_step(compiled_step)

    def _static_decode(self, step: Any, input_ids: Tensor, attention_mask: Tensor | None,
                       position_ids: Tensor | None, kv_cache: KVCache) -> ModelOutput:
        """One new token per row through the static step (``use_static_decode_step``)."""
        past, batch, total = len(kv_cache), input_ids.shape[0], kv_cache.max_len
        if past + 1 > min(total, self.config.max_seq_len):
            raise ValueError(f"sequence of {past + 1} tokens exceeds the context of "
                             f"{min(total, self.config.max_seq_len)}")
        if position_ids is None:
            position_ids = torch.full((batch, 1), past, dtype=torch.long, device=input_ids.device)
        allowed = torch.zeros(batch, 1, 1, total, dtype=torch.bool, device=input_ids.device)
        if attention_mask is not None:
            allowed[:, 0, 0, : past + 1] = attention_mask[:, -(past + 1):].bool()
        else:
            allowed[:, 0, 0, : past + 1] = True
        position = torch.tensor([past], device=input_ids.device)
        logits = step(input_ids, position_ids, allowed, position, kv_cache.keys, kv_cache.values)
        kv_cache.lengths = [past + 1] * len(kv_cache.lengths)
        return ModelOutput(logits=logits, past_key_values=kv_cache)

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
        return_logits: bool | None = None,
    ) -> ModelOutput:
        """Logits (B, T, vocab); ``logits_to_keep=k`` computes only the last k positions
        (generation needs just the last, which saves a (T, d_model) x (d_model, vocab) matmul).

        When training with ``labels`` (module in train mode, gradients on) the loss comes from
        ``nn.losses.linear_cross_entropy``, which never materializes the (B, T, vocab) logits, and
        ``logits`` is None; pass ``return_logits=True`` to get them (and the plain loss) anyway.
        """
        step = self._static_step
        if (step is not None and kv_cache is not None and input_ids.shape[1] == 1 and labels is None
                and logits_to_keep <= 1 and not (output_hidden_states or output_attentions or self.training)):
            return self._static_decode(step, input_ids, attention_mask, position_ids, kv_cache)
        out = self.transformer(
            input_ids,
            attention_mask,
            position_ids,
            kv_cache=kv_cache,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        h = out.last_hidden_state
        fused = labels is not None and logits_to_keep == 0 and self.training and torch.is_grad_enabled()
        if fused and not return_logits:
            out.logits = None
            out.loss = losses.linear_cross_entropy(
                h[:, :-1].reshape(-1, h.shape[-1]), self.lm_head.weight, labels[:, 1:].reshape(-1)
            )
            return out
        if logits_to_keep > 0:
            h = h[:, -logits_to_keep:]
        if self.training:
            out.logits = self.lm_head(h)
        else:
            # Built once per generation (kept in its cache, as the blocks' fused paths are), not
            # per token: building it looks its kernel up in the kernel cache.
            state = kv_cache.model_state if kv_cache is not None else {}
            head = state.get("lm_head") or state.setdefault("lm_head", inference_linear(self.lm_head))
            out.logits = head(h)
        if labels is not None:
            out.loss = causal_lm_loss(out.logits, labels)
        return out

    def generate(self, input_ids: Tensor, **kwargs: Any) -> Tensor:
        """Continue ``input_ids`` (B, T); the same keywords as transformers' ``generate``."""
        from ..decoding import generate

        return generate(self, input_ids, **kwargs)


def last_token_index(input_ids: Tensor, attention_mask: Tensor | None, pad_token_id: int | None) -> Tensor:
    """(B,) index of each row's last real token: the rightmost 1 of the mask, else the
    rightmost id that is not ``pad_token_id`` (transformers' rule), else the last position."""
    positions = torch.arange(input_ids.shape[1], device=input_ids.device)
    if attention_mask is not None:
        real = attention_mask[:, -input_ids.shape[1]:].bool()
    elif pad_token_id is not None:
        real = input_ids != pad_token_id
    else:
        return torch.full((input_ids.shape[0],), input_ids.shape[1] - 1, device=input_ids.device)
    return (positions * real).argmax(dim=-1)


class GPTForSequenceClassification(BigModel):
    """GPT + a linear ``score`` (no bias) read at each row's last real token: a causal model
    has seen the whole text only there. ``logits`` (B, num_labels)."""

    family = "gpt"
    architecture = "GPT2ForSequenceClassification"
    config_class = GPTConfig

    def __init__(self, config: GPTConfig) -> None:
        super().__init__(config)
        self.transformer = GPTModel(config)
        self.score = nn.Linear(config.d_model, config.num_labels, bias=False)
        nn.init.normal_(self.score.weight, mean=0.0, std=config.initializer_range)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        position_ids: Tensor | None = None,
        labels: Tensor | None = None,
        *,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> ModelOutput:
        out = self.transformer(input_ids, attention_mask, position_ids,
                               output_hidden_states=output_hidden_states,
                               output_attentions=output_attentions)
        last = last_token_index(input_ids, attention_mask, self.config.pad_token_id)
        pooled = out.last_hidden_state[torch.arange(input_ids.shape[0], device=input_ids.device), last]
        out.logits = self.score(pooled)  # (B, num_labels)
        if labels is not None:
            out.loss = F.cross_entropy(out.logits.float(), labels.reshape(-1))
        return out
