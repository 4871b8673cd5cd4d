"""Cross-entropy fused with the output projection, computed a block of rows at a time.

A language model's last step, logits = h Wᵀ (+ b) followed by cross-entropy over a large
vocabulary, is where a small model spends most of its training time on a CPU: for GPT-2's
50,257 tokens the logits of 2,048 positions are 412 MB in fp32, and autograd walks over
them five or six times (cast, log-softmax, its backward, the shift's zero-filled gradient).
None of that is needed, because the gradient of the mean cross-entropy has a closed form:

    loss  = (1/n) Σ_i [ logsumexp_v(z_iv) - z_{i,y_i} ]           over the n rows with a label
    ∂loss/∂z_iv = (softmax(z_i)_v - [v = y_i]) / n                z = h Wᵀ + b, shape (N, V)
    ∂loss/∂h = (∂loss/∂z) W        ∂loss/∂W = (∂loss/∂z)ᵀ h        ∂loss/∂b = Σ_i ∂loss/∂z_i

So the forward pass computes, for each block of rows, the logits, the loss and at once the
gradients, and throws the logits away; backward only scales the stored gradients by the
incoming gradient of the loss. Peak memory holds one (rows, V) block instead of (N, V).
The matmuls run in the autocast dtype when autocast is on (as ``nn.Linear`` would); the
softmax is always fp32.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

DEFAULT_BLOCK_ROWS = 1024


class _BlockGradients:
    """The gradients the forward pass fills one block of rows at a time (None where autograd
    wants none), with the work buffers a low-precision ``compute_dtype`` needs."""

    def __init__(self, needs: tuple[bool, bool, bool], hidden: Tensor, weight: Tensor, bias: Tensor | None,
                 weight_c: Tensor, block_rows: int) -> None:
        need_hidden_grad, need_weight_grad, need_bias_grad = needs
        self.hidden = torch.empty_like(hidden) if need_hidden_grad else None
        self.weight = torch.empty_like(weight, dtype=torch.float32) if need_weight_grad else None
        self.bias = (torch.zeros(weight.shape[0], dtype=torch.float32, device=weight.device)
                     if need_bias_grad and bias is not None else None)
        self.hidden_dtype = hidden.dtype
        low_precision = weight_c.dtype != torch.float32
        self.weight_block = torch.empty_like(weight_c) if low_precision and self.weight is not None else None
        # fp32 copy of a low-precision block: adding bf16 into fp32 directly is a slow mixed kernel.
        self.weight_block_fp32 = (torch.empty_like(self.weight)
                                  if self.weight_block is not None and hidden.shape[0] > block_rows else None)

    @property
    def needed(self) -> bool:
        return self.hidden is not None or self.weight is not None or self.bias is not None

    def add(self, probs: Tensor, low: Tensor | None, h: Tensor, weight_c: Tensor, target: Tensor,
            row_weight: Tensor, start: int) -> None:
        """Turn the block's log p (r, V), in place, into ∂loss/∂z = (p - onehot) · w_row and add
        its products; the row weights go onto the (r, d) factors instead of the (r, V) block."""
        r = probs.shape[0]
        probs.exp_()
        probs[torch.arange(r), target] -= 1.0
        if self.bias is not None:
            self.bias += probs.T @ row_weight
        grad_logits = probs if low is None else low.copy_(probs)
        if self.hidden is not None:
            self.hidden[start:start + r] = (grad_logits @ weight_c).float().mul_(row_weight[:, None]).to(
                self.hidden_dtype)
        if self.weight is not None:
            self._add_weight(grad_logits, (h.float() * row_weight[:, None]).to(weight_c.dtype), start)

    def _add_weight(self, grad_logits: Tensor, scaled_h: Tensor, start: int) -> None:
        assert self.weight is not None
        if self.weight_block is None:
            self.weight.addmm_(grad_logits.T, scaled_h, beta=0.0 if start == 0 else 1.0)
            return
        torch.mm(grad_logits.T, scaled_h, out=self.weight_block)
        if start == 0:
            self.weight.copy_(self.weight_block)
        else:
            assert self.weight_block_fp32 is not None
            self.weight += self.weight_block_fp32.copy_(self.weight_block)

    def finish(self, rows: int) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        if rows == 0 and self.weight is not None:
            self.weight.zero_()  # no block ran to overwrite it
        return self.hidden, self.weight, self.bias


def _block_log_probs(h: Tensor, weight_c: Tensor, bias: Tensor | None, probs: Tensor, low: Tensor | None) -> None:
    """log softmax(h Wᵀ + b) into ``probs`` (r, V) fp32, the matmul in ``low``'s dtype if given."""
    if low is not None:
        torch.mm(h, weight_c.T, out=low)
        probs.copy_(low)
    else:
        torch.mm(h, weight_c.T, out=probs)
    if bias is not None:
        probs += bias
    torch.log_softmax(probs, dim=-1, out=probs)


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        hidden: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        labels: Tensor,
        ignore_index: int,
        block_rows: int,
        compute_dtype: torch.dtype,
    ) -> Tensor:
        rows = hidden.shape[0]
        valid = labels != ignore_index  # (N,)
        # The mean over labelled rows; with none, the loss is 0 and so is every gradient.
        n_valid = valid.sum().clamp(min=1).to(torch.float32)
        weight_c = weight.to(compute_dtype)  # (V, d)
        grads = _BlockGradients(ctx.needs_input_grad[:3], hidden, weight, bias, weight_c, block_rows)
        loss_sum = torch.zeros((), dtype=torch.float32, device=hidden.device)
        # Two (r, V) work buffers reused by every block: fresh 100 MB tensors cost more in page
        # faults than the arithmetic done on them. Every elementwise step runs in place in fp32
        # (the mixed-dtype kernels are several times slower than a copy plus an fp32 kernel).
        block = min(rows, block_rows)
        probs_buffer = torch.empty(block, weight.shape[0], dtype=torch.float32, device=hidden.device)
        low_buffer = (torch.empty(block, weight.shape[0], dtype=compute_dtype, device=hidden.device)
                      if compute_dtype != torch.float32 else None)
        for start in range(0, rows, block_rows):
            stop = min(rows, start + block_rows)
            h = hidden[start:stop].to(compute_dtype)  # (r, d)
            probs = probs_buffer[:stop - start]  # (r, V) fp32
            low = low_buffer[:stop - start] if low_buffer is not None else None
            _block_log_probs(h, weight_c, bias, probs, low)  # log p, (r, V)
            target = labels[start:stop].clamp(min=0)  # (r,); ignored rows read any column, then weigh 0
            row_weight = valid[start:stop].float() / n_valid  # (r,)
            loss_sum -= (probs.gather(1, target[:, None])[:, 0] * row_weight).sum()
            if grads.needed:
                grads.add(probs, low, h, weight_c, target, row_weight, start)
        stored = grads.finish(rows)
        ctx.save_for_backward(*(t if t is not None else torch.empty(0) for t in stored))
        ctx.has = tuple(t is not None for t in stored)
        ctx.dtypes = (hidden.dtype, weight.dtype, bias.dtype if bias is not None else None)
        return loss_sum

    @staticmethod
    def backward(ctx: Any, grad_loss: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        stored = ctx.saved_tensors
        grads: list[Tensor | None] = []
        # The loss is usually the root of backward (grad_loss == 1): skip a pass over (V, d).
        unit = bool(grad_loss == 1.0)
        for tensor, present, dtype in zip(stored, ctx.has, ctx.dtypes, strict=True):
            grads.append((tensor if unit else tensor * grad_loss).to(dtype) if present else None)
        return grads[0], grads[1], grads[2], None, None, None, None


def linear_cross_entropy(
    hidden: Tensor,
    weight: Tensor,
    labels: Tensor,
    bias: Tensor | None = None,
    *,
    ignore_index: int = -100,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> Tensor:
    """Mean cross-entropy of ``hidden @ weight.T + bias`` against ``labels`` without keeping logits.

    hidden (N, d), weight (V, d), bias (V,) or None, labels (N,) with ``ignore_index`` for rows
    that do not count. Equal to ``F.cross_entropy(F.linear(hidden, weight, bias).float(),
    labels)``, with its gradients; under CPU autocast the matmuls use the autocast dtype.
    """
    if hidden.dim() != 2 or labels.shape != hidden.shape[:1]:
        raise ValueError(f"hidden must be (N, d) and labels (N,), got {tuple(hidden.shape)} and {tuple(labels.shape)}")
    if block_rows < 1:
        raise ValueError(f"block_rows must be a positive integer, got {block_rows}")
    device_type = hidden.device.type
    compute_dtype = (
        torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else weight.dtype
    )
    with torch.autocast(device_type, enabled=False):
        return _LinearCrossEntropy.apply(hidden, weight, bias, labels, ignore_index, block_rows, compute_dtype)


def keep_eager_under_compile() -> None:
    """Make ``torch.compile`` leave :func:`linear_cross_entropy` to eager execution.

    The blocked loop is already a few large kernels, and tracing it made a compiled training
    step slower than an eager one (1,431 vs 2,105 tok/s, bf16, benchmarks/train.py). The Trainer
    calls this when ``train.compile`` is on; it is not done at import because wrapping needs
    torch._dynamo, whose import costs ~2 s. Callers reach the function through this module
    (``losses.linear_cross_entropy``), so the swap reaches them.
    """
    global linear_cross_entropy
    if not getattr(linear_cross_entropy, "_bigmodel_eager", False):
        eager = torch.compiler.disable(linear_cross_entropy)
        eager._bigmodel_eager = True  # type: ignore[attr-defined]
        linear_cross_entropy = eager
