"""The fused output-projection + cross-entropy equals the plain one, loss and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bigmodel.models.gpt import GPT, GPTConfig
from bigmodel.nn.losses import linear_cross_entropy


def _inputs(rows: int = 37, width: int = 16, vocab: int = 101, bias: bool = True):
    torch.manual_seed(0)
    hidden = torch.randn(rows, width, requires_grad=True)
    weight = (torch.randn(vocab, width) * 0.5).requires_grad_()
    b = torch.randn(vocab, requires_grad=True) if bias else None
    labels = torch.randint(0, vocab, (rows,))
    labels[::5] = -100
    return hidden, weight, b, labels


@pytest.mark.parametrize("block_rows", [1, 8, 37, 1000])
@pytest.mark.parametrize("bias", [True, False])
def test_equals_plain_cross_entropy_fp32(block_rows: int, bias: bool) -> None:
    hidden, weight, b, labels = _inputs(bias=bias)
    params = [t for t in (hidden, weight, b) if t is not None]
    expected = F.cross_entropy(F.linear(hidden, weight, b), labels)
    expected_grads = torch.autograd.grad(expected * 3.0, params)
    got = linear_cross_entropy(hidden, weight, labels, b, block_rows=block_rows)
    got_grads = torch.autograd.grad(got * 3.0, params)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    for g, e in zip(got_grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e, atol=1e-6, rtol=1e-5)


def test_bf16_autocast_close_to_autocast_linear() -> None:
    hidden, weight, b, labels = _inputs()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = F.cross_entropy(F.linear(hidden, weight, b).float(), labels)
        got = linear_cross_entropy(hidden, weight, labels, b, block_rows=8)
    expected_grads = torch.autograd.grad(expected, [hidden, weight, b])
    got_grads = torch.autograd.grad(got, [hidden, weight, b])
    assert got.dtype == torch.float32 and abs(float((got - expected).detach())) < 1e-2
    for g, e in zip(got_grads, expected_grads, strict=True):
        assert g.dtype == e.dtype == torch.float32
        torch.testing.assert_close(g, e, atol=2e-2, rtol=5e-2)


def test_all_rows_ignored_gives_zero_loss_and_gradients() -> None:
    hidden, weight, _, labels = _inputs(bias=False)
    labels[:] = -100
    loss = linear_cross_entropy(hidden, weight, labels)
    loss.backward()
    assert float(loss) == 0.0 and hidden.grad.abs().max() == 0 and weight.grad.abs().max() == 0


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="labels"):
        linear_cross_entropy(torch.randn(4, 3), torch.randn(5, 3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="block_rows"):
        linear_cross_entropy(torch.randn(4, 3), torch.randn(5, 3), torch.zeros(4, dtype=torch.long), block_rows=0)


def test_gpt_training_loss_and_gradients_equal_the_logits_path() -> None:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=97, max_seq_len=32, d_model=32, n_layers=2, n_heads=4, dropout=0.0,
                          attn_dropout=0.0)).train()
    ids = torch.randint(0, 97, (3, 20))
    labels = ids.clone()
    labels[0, :5] = -100
    fused = model(ids, labels=labels)
    assert fused.logits is None
    fused_grads = torch.autograd.grad(fused.loss, list(model.parameters()))
    plain = model(ids, labels=labels, return_logits=True)
    assert plain.logits.shape == (3, 20, 97)
    plain_grads = torch.autograd.grad(plain.loss, list(model.parameters()))
    torch.testing.assert_close(fused.loss, plain.loss, atol=1e-5, rtol=1e-5)
    for g, e in zip(fused_grads, plain_grads, strict=True):
        torch.testing.assert_close(g, e, atol=1e-6, rtol=1e-4)
    with torch.no_grad():
        assert model.eval()(ids, labels=labels).logits is not None


def test_planner_knows_the_loss_block_size() -> None:
    from bigmodel.nn.losses import DEFAULT_BLOCK_ROWS
    from bigmodel.planning.formulas import LOSS_BLOCK_ROWS

    assert LOSS_BLOCK_ROWS == DEFAULT_BLOCK_ROWS


@pytest.mark.slow
def test_compiled_training_step_keeps_the_fused_loss_eager_and_equal() -> None:
    from bigmodel.nn import losses

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=97, max_seq_len=32, d_model=32, n_layers=2, n_heads=4, dropout=0.0,
                          attn_dropout=0.0)).train()
    ids = torch.randint(0, 97, (2, 16))
    expected = model(ids, labels=ids).loss
    losses.keep_eager_under_compile()
    assert getattr(losses.linear_cross_entropy, "_bigmodel_eager", False)
    got = torch.compile(model)(input_ids=ids, labels=ids).loss
    got.backward()
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_no_rows_gives_zero_loss_and_a_zero_weight_gradient() -> None:
    hidden = torch.randn(0, 8, requires_grad=True)
    weight = torch.randn(11, 8, requires_grad=True)
    loss = linear_cross_entropy(hidden, weight, torch.zeros(0, dtype=torch.long))
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.equal(weight.grad, torch.zeros_like(weight))
