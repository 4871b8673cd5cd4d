"""The inference linear picks a kernel by measurement; every choice equals F.linear."""

from __future__ import annotations

import copy
import gc

import pytest
import torch
import torch.nn.functional as F

from bigmodel.nn.fast_linear import _PACKED, inference_linear
from bigmodel.nn.linear_kernels import build_kernel


@pytest.fixture(autouse=True)
def _measured_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real measured choice (kept in memory), not the test suite's F.linear everywhere."""
    monkeypatch.setenv("BIGMODEL_KERNEL_CACHE", "memory")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(1, 1), (1, 8), (2, 5), (3, 40), (1, 100)])
def test_equals_f_linear(dtype: torch.dtype, bias: bool, shape: tuple[int, int]) -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(24, 40, bias=bias).to(dtype)
    x = torch.randn(*shape, 24, dtype=dtype)
    with torch.inference_mode():
        got = inference_linear(layer)(x)
        expected = F.linear(x, layer.weight, layer.bias)
    assert got.shape == expected.shape and got.dtype == dtype and got.is_contiguous()
    tolerance = 1e-5 if dtype == torch.float32 else 3e-2
    torch.testing.assert_close(got.float(), expected.float(), atol=tolerance, rtol=tolerance)


def test_packed_weight_follows_in_place_updates_and_leaves_copies_alone() -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(16, 32)
    linear = build_kernel("packed", layer.weight, layer.bias)  # whether or not it wins here
    x = torch.randn(4, 16)
    with torch.no_grad():
        torch.testing.assert_close(linear(x), layer(x))
        layer.weight.mul_(3.0)
        torch.testing.assert_close(linear(x), layer(x))
    clone = copy.deepcopy(layer)  # the packed copy lives outside the module
    torch.testing.assert_close(clone(x), layer(x))
    before = len(_PACKED)
    del layer, linear
    gc.collect()
    assert len(_PACKED) == before - 1


def test_other_modules_are_returned_as_they_are() -> None:
    module = torch.nn.Identity()
    assert inference_linear(module) is module


def test_with_autograd_on_gradients_flow() -> None:
    layer = torch.nn.Linear(8, 4)
    x = torch.randn(3, 8, requires_grad=True)
    inference_linear(layer)(x).sum().backward()
    assert x.grad is not None and layer.weight.grad is not None
