"""MaxPool2d / AvgPool2d on cnnkit.ops as drop-ins for torch's: same outputs, indices and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnkit.errors import ConfigError
from cnnkit.layers import AvgPool2d, MaxPool2d
from cnnkit.models import create_model

TORCH_POOLS = [
    nn.MaxPool2d(2), nn.MaxPool2d(3, 2, 1, ceil_mode=True), nn.MaxPool2d((3, 2), (1, 2), (1, 1), dilation=(2, 1)),
    nn.MaxPool2d(3, 2, 1, return_indices=True), nn.AvgPool2d(2), nn.AvgPool2d(3, 2, 1, ceil_mode=True),
    nn.AvgPool2d(3, 1, 1, count_include_pad=False), nn.AvgPool2d((2, 3), divisor_override=4),
]


@pytest.mark.parametrize("pool", TORCH_POOLS, ids=repr)
def test_from_torch_is_a_drop_in(pool: nn.Module) -> None:
    ours = (MaxPool2d if isinstance(pool, nn.MaxPool2d) else AvgPool2d).from_torch(pool)
    assert isinstance(ours, type(pool)) and repr(ours) == repr(pool)
    assert ours.forward.__func__ is not type(pool).forward  # our forward, not torch's
    torch.manual_seed(0)
    x = torch.randint(0, 3, (2, 3, 9, 8)).float().requires_grad_()  # many ties
    y, expected = ours(x), pool(x)
    for a, b in zip(y if isinstance(y, tuple) else (y,), expected if isinstance(expected, tuple) else (expected,)):
        torch.testing.assert_close(a, b, rtol=0 if a.dtype == torch.long else None,
                                   atol=0 if a.dtype == torch.long else None)
    first, first_expected = (y[0], expected[0]) if isinstance(y, tuple) else (y, expected)
    dy = torch.randn(first.shape)
    torch.testing.assert_close(torch.autograd.grad(first, x, dy)[0], torch.autograd.grad(first_expected, x, dy)[0])


def test_same_constructor_as_torch() -> None:
    assert repr(MaxPool2d(3, stride=2, padding=1, ceil_mode=True)) == repr(nn.MaxPool2d(3, 2, 1, ceil_mode=True))
    assert repr(AvgPool2d(3, padding=1, count_include_pad=False)) == repr(nn.AvgPool2d(3, padding=1,
                                                                                      count_include_pad=False))


def test_swapping_a_models_pools_keeps_its_outputs_and_gradients() -> None:
    torch.manual_seed(0)
    model = create_model("lenet5").double()
    x = torch.rand(4, 1, 28, 28, dtype=torch.float64)
    expected = model(x)
    expected_grads = torch.autograd.grad(expected.square().sum(), list(model.parameters()))
    swapped = 0
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if type(child) is nn.MaxPool2d:
                setattr(parent, name, MaxPool2d.from_torch(child))
                swapped += 1
    assert swapped == 2
    y = model(x)
    torch.testing.assert_close(y, expected)
    for g, e in zip(torch.autograd.grad(y.square().sum(), list(model.parameters())), expected_grads):
        torch.testing.assert_close(g, e)


def test_from_torch_refuses_another_kind_of_pool() -> None:
    with pytest.raises(ConfigError, match="MaxPool2d.from_torch needs a torch.nn.MaxPool2d; got AvgPool2d"):
        MaxPool2d.from_torch(nn.AvgPool2d(2))
    with pytest.raises(ConfigError, match="got MaxPool2d"):
        AvgPool2d.from_torch(nn.MaxPool2d(2))
