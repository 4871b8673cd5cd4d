"""The engine drives an encoder-decoder (the Transformer) through the same search code."""

from __future__ import annotations

import torch

from bigmodel.decoding import generate
from bigmodel.models.transformer import Transformer, TransformerConfig


def tiny_transformer() -> Transformer:
    torch.manual_seed(2)
    config = TransformerConfig(vocab_size=37, d_model=32, n_heads=4, n_encoder_layers=2, n_decoder_layers=2,
                               d_ff=48, max_seq_len=40, dropout=0.0)
    return Transformer(config).eval()


def test_greedy_equals_the_models_own_greedy_loop() -> None:
    model = tiny_transformer()
    src = torch.randint(3, 37, (3, 9))
    mask = torch.ones_like(src)
    mask[1, 6:] = 0
    expected = model.greedy_generate(src, mask, max_new_tokens=12)
    got = generate(model, src, attention_mask=mask, max_new_tokens=12)
    assert torch.equal(got, expected)
    assert (got[:, 0] == model.config.bos_token_id).all()


def test_beam_search_returns_best_first_from_the_start_token() -> None:
    model = tiny_transformer()
    src = torch.randint(3, 37, (2, 7))
    out = generate(model, src, max_new_tokens=10, num_beams=3, num_return_sequences=2, length_penalty=0.0)
    assert out.shape[0] == 4 and out.shape[1] <= 11
    assert (out[:, 0] == model.config.bos_token_id).all()

    def score(row: torch.Tensor, i: int) -> float:
        # Σ log p of the generated tokens up to (and including) EOS.
        tokens = row[1:].tolist()
        if 2 in tokens:
            tokens = tokens[: tokens.index(2) + 1]
        tgt = torch.tensor([[1] + tokens])
        with torch.no_grad():
            logp = model(src[i: i + 1], decoder_input_ids=tgt[:, :-1]).logits.log_softmax(-1)
        return float(logp[0].gather(-1, tgt[0, 1:, None]).sum())

    for i in range(2):
        first, second = score(out[2 * i], i), score(out[2 * i + 1], i)
        assert first >= second - 1e-4
        greedy = generate(model, src[i: i + 1], max_new_tokens=10)
        assert first >= score(greedy[0], i) - 1e-4
