"""The Transformer of Vaswani et al. (2017): an encoder-decoder for sequence transduction.

The encoder reads the source x_1..x_S into memory, the decoder writes the target one
token at a time, looking at what it has written (causal self-attention) and at the memory
(cross-attention)::

    memory = Encoder(E_src[x] · √d + PE)                              (B, S, d)
    h      = Decoder(E_tgt[y_<t] · √d + PE, memory)                   (B, T, d)
    p(y_t | y_<t, x) = softmax(h_t Wᵀ)                                W: (V_tgt, d)

and is trained by teacher forcing: the decoder reads the true target shifted right by one
(BOS y_1 .. y_{T-1}) and is scored against y_1 .. y_T EOS with token cross-entropy

    L = -(1/N) Σ_t log p(y_t | y_<t, x)          (positions labelled -100 do not count)

The paper places LayerNorm after each residual add (post-LN) and shares one matrix between
the source embeddings, the target embeddings and the pre-softmax projection W
(``share_embeddings`` and ``tie_output``). Pre-LN (``norm_first``) variants add a final
LayerNorm after each stack (``final_norm``, on by default for them), which is also the
layout ``torch.nn.Transformer`` always uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import BigModelError
from ..nn import Embeddings, KVCache, TransformerBlock, make_attention_bias
from .base import BigModel, ConfigBase, ModelOutput

__all__ = [
    "Transformer",
    "TransformerConfig",
    "TRANSFORMER_PRESETS",
    "seq2seq_loss",
    "shift_tokens_right",
]


@dataclass
class TransformerConfig(ConfigBase):
    """Hyper-parameters; the defaults are the paper's base model (65M parameters)."""

    model_type: ClassVar[str] = "bigmodel-transformer"

    vocab_size: int = 37000  # source vocabulary, and the target's unless tgt_vocab_size is set
    tgt_vocab_size: int | None = None
    d_model: int = 512
    n_heads: int = 8
    n_encoder_layers: int = 6
    n_decoder_layers: int = 6
    d_ff: int = 2048
    dropout: float = 0.1
    attn_dropout: float = 0.0
    activation: str = "relu"
    layer_norm_eps: float = 1e-5
    max_seq_len: int = 512
    share_embeddings: bool = True  # one token table for source and target (needs one vocabulary)
    tie_output: bool = True  # the pre-softmax projection is the target token table
    norm_first: bool = False  # False: post-LN as in the paper; True: pre-LN
    final_norm: bool | None = None  # LayerNorm after each stack; None: same as norm_first
    pad_token_id: int = 0
    bos_token_id: int = 1
    eos_token_id: int = 2

    def __post_init__(self) -> None:
        if self.tgt_vocab_size is None:
            self.tgt_vocab_size = self.vocab_size
        if self.final_norm is None:
            self.final_norm = self.norm_first
        if self.d_model % self.n_heads != 0:
            raise BigModelError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")
        if self.share_embeddings and self.tgt_vocab_size != self.vocab_size:
            raise BigModelError(
                f"share_embeddings needs one vocabulary, but vocab_size={self.vocab_size} and "
                f"tgt_vocab_size={self.tgt_vocab_size}; set share_embeddings=false"
            )
        for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
            value = getattr(self, name)
            if not 0 <= value < min(self.vocab_size, self.tgt_vocab_size):
                raise BigModelError(f"{name}={value} is outside the vocabulary")


TRANSFORMER_PRESETS: dict[str, dict[str, Any]] = {
    "transformer-base": dict(d_model=512, n_heads=8, d_ff=2048, n_encoder_layers=6, n_decoder_layers=6),
    "transformer-big": dict(d_model=1024, n_heads=16, d_ff=4096, n_encoder_layers=6,
                            n_decoder_layers=6, dropout=0.3),
}


def shift_tokens_right(labels: Tensor, bos_token_id: int, pad_token_id: int) -> Tensor:
    """Teacher-forcing decoder input: (B, T) labels y_1..y_T -> BOS y_1..y_{T-1}.

    Ignored label positions (-100) become padding.
    """
    shifted = labels.new_full(labels.shape, pad_token_id)
    shifted[:, 0] = bos_token_id
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == -100, pad_token_id)


def seq2seq_loss(logits: Tensor, labels: Tensor, *, label_smoothing: float = 0.0,
                 ignore_index: int = -100) -> Tensor:
    """Mean -log p(y_t | y_<t, x): logits (B, T, V) at t against labels (B, T) at t (no shift)."""
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(),
        labels.reshape(-1),
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )


def _block(config: TransformerConfig, *, decoder: bool) -> TransformerBlock:
    return TransformerBlock(
        config.d_model,
        config.n_heads,
        config.d_ff,
        norm_first=config.norm_first,
        causal=decoder,
        cross_attention=decoder,
        activation=config.activation,
        dropout=config.dropout,
        attn_dropout=config.attn_dropout,
        layer_norm_eps=config.layer_norm_eps,
    )


class TransformerEncoder(nn.Module):
    """Source embeddings -> N blocks (bidirectional self-attention) [-> LayerNorm]."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.embeddings = Embeddings(
            config.vocab_size, config.d_model, config.max_seq_len, positions="sinusoidal",
            dropout=config.dropout, padding_idx=config.pad_token_id,
        )
        self.blocks = nn.ModuleList(_block(config, decoder=False) for _ in range(config.n_encoder_layers))
        self.final_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps) if config.final_norm else None

    def stack(self, h: Tensor, src_mask: Tensor | None = None) -> Tensor:
        """h (B, S, d) embedded source, src_mask (B, S) 1 = token -> memory (B, S, d)."""
        attn_bias = make_attention_bias(src_mask, h.dtype)
        for block in self.blocks:
            h, _, _ = block(h, attn_bias=attn_bias)
        return self.final_norm(h) if self.final_norm is not None else h


class TransformerDecoder(nn.Module):
    """Target embeddings -> N blocks (causal self-attention + cross-attention) [-> LayerNorm]."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.embeddings = Embeddings(
            config.tgt_vocab_size, config.d_model, config.max_seq_len, positions="sinusoidal",
            dropout=config.dropout, padding_idx=config.pad_token_id,
        )
        self.blocks = nn.ModuleList(_block(config, decoder=True) for _ in range(config.n_decoder_layers))
        self.final_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps) if config.final_norm else None

    def stack(
        self,
        h: Tensor,
        memory: Tensor,
        *,
        tgt_mask: Tensor | None = None,
        src_mask: Tensor | None = None,
        kv_cache: KVCache | None = None,
        cross_cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """h (B, T, d) embedded target, memory (B, S, d) -> (B, T, d), attention weights.

        tgt_mask (B, past + T) and src_mask (B, S) hold 1 = token, 0 = padding.
        """
        self_bias = make_attention_bias(tgt_mask, h.dtype)
        cross_bias = make_attention_bias(src_mask, h.dtype)
        self_weights: list[Tensor] = []
        cross_weights: list[Tensor] = []
        for i, block in enumerate(self.blocks):
            h, w_self, w_cross = block(
                h, attn_bias=self_bias, kv_cache=kv_cache, layer_idx=i, context=memory,
                context_bias=cross_bias, cross_cache=cross_cache, need_weights=need_weights,
            )
            if need_weights:
                self_weights.append(w_self)
                cross_weights.append(w_cross)
        h = self.final_norm(h) if self.final_norm is not None else h
        return h, self_weights, cross_weights


class Transformer(BigModel):
    """Encoder-decoder Transformer with a language-model head over the target vocabulary.

    ``model(input_ids, attention_mask, labels=labels)`` trains by teacher forcing;
    ``model.generate(input_ids)`` translates (greedy or beam search), returning
    (B, 1 + new) ids that start with BOS.
    """

    family = "transformer"
    architecture = "BigmodelTransformer"
    config_class = TransformerConfig

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__(config)
        self.encoder = TransformerEncoder(config)
        self.decoder = TransformerDecoder(config)
        if config.share_embeddings:
            self.decoder.embeddings.token = self.encoder.embeddings.token
        # Tied: logits = h Eᵀ with the target table, no separate matrix (see `output_weight`).
        self.lm_head = None if config.tie_output else nn.Linear(config.d_model, config.tgt_vocab_size, bias=False)
        self._init_weights()

    def _init_weights(self) -> None:
        # Xavier for the projections (as torch.nn.Transformer); tokens ~ N(0, d^-1/2) so that
        # E[x]·√d has unit scale and a tied output layer starts with small logits.
        for name, p in self.named_parameters():
            if p.dim() > 1 and "embeddings" not in name:
                nn.init.xavier_uniform_(p)
        for embeddings in (self.encoder.embeddings, self.decoder.embeddings):
            nn.init.normal_(embeddings.token.weight, mean=0.0, std=self.config.d_model ** -0.5)
            with torch.no_grad():
                embeddings.token.weight[self.config.pad_token_id].zero_()

    @property
    def output_weight(self) -> Tensor:
        """W (V_tgt, d) of p(y_t) = softmax(h_t Wᵀ)."""
        return self.lm_head.weight if self.lm_head is not None else self.decoder.embeddings.token.weight

    # ---------------------------------------------------------------- the two halves

    def encoder_stack(self, h: Tensor, src_mask: Tensor | None = None) -> Tensor:
        """The encoder's layers on embedded input h (B, S, d) (what torch.nn.Transformer takes)."""
        return self.encoder.stack(h, src_mask)

    def decoder_stack(self, h: Tensor, memory: Tensor, *, tgt_mask: Tensor | None = None,
                      src_mask: Tensor | None = None, kv_cache: KVCache | None = None,
                      cross_cache: KVCache | None = None) -> Tensor:
        """The decoder's layers on embedded target h (B, T, d) and memory (B, S, d)."""
        out, _, _ = self.decoder.stack(h, memory, tgt_mask=tgt_mask, src_mask=src_mask,
                                       kv_cache=kv_cache, cross_cache=cross_cache)
        return out

    def _check_length(self, length: int, what: str) -> None:
        if length > self.config.max_seq_len:
            raise BigModelError(f"{what} of {length} tokens exceeds max_seq_len={self.config.max_seq_len}")

    def encode(self, src_ids: Tensor, src_mask: Tensor | None = None) -> Tensor:
        """src_ids (B, S), src_mask (B, S) 1 = token -> memory (B, S, d)."""
        self._check_length(src_ids.shape[1], "source")
        return self.encoder.stack(self.encoder.embeddings(src_ids), src_mask)

    def decode(
        self,
        tgt_ids: Tensor,
        memory: Tensor,
        src_mask: Tensor | None = None,
        *,
        tgt_mask: Tensor | None = None,
        kv_cache: KVCache | None = None,
        cross_cache: KVCache | None = None,
        output_attentions: bool = False,
        logits_to_keep: int = 0,
    ) -> ModelOutput:
        """Logits (B, T, V_tgt) for target ids (B, T) given memory (B, S, d).

        With a ``kv_cache`` the ids continue the cached positions: they are placed at
        positions len(cache) .. len(cache) + T - 1. ``cross_cache`` keeps the memory's keys
        and values after the first step so that they are projected once per generation.
        """
        past = len(kv_cache) if kv_cache is not None else 0
        self._check_length(past + tgt_ids.shape[1], "target")
        positions = torch.arange(past, past + tgt_ids.shape[1], device=tgt_ids.device).unsqueeze(0)
        h = self.decoder.embeddings(tgt_ids, positions)  # (B, T, d)
        h, self_w, cross_w = self.decoder.stack(
            h, memory, tgt_mask=tgt_mask, src_mask=src_mask, kv_cache=kv_cache,
            cross_cache=cross_cache, need_weights=output_attentions,
        )
        if logits_to_keep > 0:
            h = h[:, -logits_to_keep:]
        return ModelOutput(
            logits=F.linear(h, self.output_weight),
            last_hidden_state=h,
            attentions=tuple(self_w) if output_attentions else None,
            cross_attentions=tuple(cross_w) if output_attentions else None,
            past_key_values=kv_cache,
        )

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        decoder_input_ids: Tensor | None = None,
        labels: Tensor | None = None,
        *,
        decoder_attention_mask: Tensor | None = None,
        output_attentions: bool = False,
        label_smoothing: float = 0.0,
    ) -> ModelOutput:
        """Teacher-forced pass: source ids (B, S), decoder input (B, T) -> logits (B, T, V_tgt).

        ``decoder_input_ids`` default to ``labels`` shifted right behind BOS; with ``labels``
        (-100 = ignore) the output carries the token cross-entropy as ``loss``.
        """
        if decoder_input_ids is None:
            if labels is None:
                raise BigModelError("Transformer.forward needs decoder_input_ids or labels")
            decoder_input_ids = shift_tokens_right(labels, self.config.bos_token_id, self.config.pad_token_id)
        memory = self.encode(input_ids, attention_mask)
        out = self.decode(decoder_input_ids, memory, attention_mask, tgt_mask=decoder_attention_mask,
                          output_attentions=output_attentions)
        out.encoder_last_hidden_state = memory
        if labels is not None:
            out.loss = seq2seq_loss(out.logits, labels, label_smoothing=label_smoothing)
        return out

    # ---------------------------------------------------------------- generation

    def new_kv_cache(self, batch_size: int, max_len: int | None = None,
                     dtype: torch.dtype | None = None) -> KVCache:
        """Preallocated decoder self-attention cache for ``max_len`` target positions."""
        config = self.config
        return KVCache(config.n_decoder_layers, batch_size, config.n_heads, config.d_model // config.n_heads,
                       max_len or config.max_seq_len, dtype=dtype or self.dtype, device=self.device)

    def new_cross_cache(self, batch_size: int, src_len: int, dtype: torch.dtype | None = None) -> KVCache:
        """Cache for the memory's keys and values (filled by the first decoding step)."""
        config = self.config
        return KVCache(config.n_decoder_layers, batch_size, config.n_heads, config.d_model // config.n_heads,
                       src_len, dtype=dtype or self.dtype, device=self.device)

    def generate(self, input_ids: Tensor, attention_mask: Tensor | None = None, **kwargs: Any) -> Tensor:
        """Translate source ids (B, S): (B, 1 + new) target ids starting with BOS.

        The same keywords as transformers' ``generate`` (``max_new_tokens``, ``num_beams``,
        ``do_sample``, ``top_p`` ...), run by :func:`bigmodel.decoding.generate` through
        ``encode`` / ``decode`` / ``new_kv_cache`` / ``new_cross_cache``.
        """
        from ..decoding import generate

        return generate(self, input_ids, attention_mask=attention_mask, **kwargs)

    @torch.inference_mode()
    def greedy_generate(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                        max_new_tokens: int = 64) -> Tensor:
        """argmax decoding with the KV cache; finished rows continue with padding.

        The loop in its simplest form, kept as the reference the generation engine's
        encoder-decoder path is tested against.
        """
        config = self.config
        batch = input_ids.shape[0]
        max_new_tokens = min(max_new_tokens, config.max_seq_len - 1)
        memory = self.encode(input_ids, attention_mask)
        kv_cache = self.new_kv_cache(batch, max_new_tokens + 1)
        cross_cache = self.new_cross_cache(batch, memory.shape[1])
        out = input_ids.new_full((batch, 1), config.bos_token_id)
        done = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
        step_ids = out
        for _ in range(max_new_tokens):
            logits = self.decode(step_ids, memory, attention_mask, kv_cache=kv_cache,
                                 cross_cache=cross_cache, logits_to_keep=1).logits[:, -1]
            next_ids = logits.argmax(dim=-1).masked_fill(done, config.pad_token_id)
            out = torch.cat([out, next_ids[:, None]], dim=1)
            done |= next_ids == config.eos_token_id
            if bool(done.all()):
                break
            step_ids = next_ids[:, None]
        return out
