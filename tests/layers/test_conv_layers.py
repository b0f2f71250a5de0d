"""cnnkit.layers.Conv1d/2d/3d as drop-in torch.nn.ConvNd: same parameters, same outputs, plus border modes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cnnkit.errors import ConfigError
from cnnkit.layers import Conv1d, Conv2d, Conv3d
from cnnkit.models import create_model
from cnnkit.ops import conv2d

PAIRS = [(Conv1d, nn.Conv1d, 1), (Conv2d, nn.Conv2d, 2), (Conv3d, nn.Conv3d, 3)]


@pytest.mark.parametrize(("ours", "theirs", "nd"), PAIRS)
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"stride": 2, "padding": 1, "dilation": 2},
        {"groups": 2, "bias": False},
        {"padding": "same"},
        {"padding": 2, "padding_mode": "circular"},
        {"padding": 1, "padding_mode": "reflect", "stride": 2},
    ],
    ids=["default", "stride-pad-dilation", "groups-nobias", "same", "circular", "reflect"],
)
def test_loads_a_torch_state_dict_and_computes_the_same(ours: type, theirs: type, nd: int, kwargs: dict) -> None:
    torch.manual_seed(nd)
    reference = theirs(4, 6, 3, **kwargs).double()
    layer = ours(4, 6, 3, **kwargs).double()
    assert [n for n, _ in layer.named_parameters()] == [n for n, _ in reference.named_parameters()]
    layer.load_state_dict(reference.state_dict())
    x = torch.randn(2, 4, *[7] * nd, dtype=torch.float64, requires_grad=True)
    y, expected = layer(x), reference(x)
    torch.testing.assert_close(y, expected)
    dy = torch.randn_like(y)
    ours_grads = torch.autograd.grad(y, [x, *layer.parameters()], dy)
    torch_grads = torch.autograd.grad(expected, [x, *reference.parameters()], dy)
    for a, b in zip(ours_grads, torch_grads, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's own layer, even kernel
@pytest.mark.parametrize(("ours", "theirs", "nd"), PAIRS)
def test_from_torch_copies_weights_mode_and_arguments(ours: type, theirs: type, nd: int) -> None:
    reference = theirs(2, 4, 2, padding="same", groups=2).eval()
    layer = ours.from_torch(reference)
    assert isinstance(layer, ours) and isinstance(layer, theirs) and not layer.training
    assert layer.state_dict().keys() == reference.state_dict().keys()
    x = torch.randn(3, 2, *[5] * nd)
    torch.testing.assert_close(layer(x), reference(x))


def test_from_torch_refuses_other_modules() -> None:
    with pytest.raises(ConfigError, match="Conv2d.from_torch needs a Conv2d, got Conv1d"):
        Conv2d.from_torch(nn.Conv1d(1, 1, 3))
    with pytest.raises(ConfigError, match="got ConvTranspose2d"):
        Conv2d.from_torch(nn.ConvTranspose2d(1, 1, 3))


def test_swapping_a_models_convolutions_keeps_its_logits() -> None:
    torch.manual_seed(0)
    model = create_model("lenet5").eval()
    x = torch.rand(4, 1, 28, 28)
    expected = model(x)
    features = model.features
    for i, module in enumerate(features):
        if isinstance(module, nn.Conv2d):
            features[i] = Conv2d.from_torch(module)
    assert sum(isinstance(m, Conv2d) for m in model.modules()) == 2
    torch.testing.assert_close(model(x), expected)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_border_same_any_stride_gives_ceil_n_over_stride(stride: int) -> None:
    layer = Conv2d(3, 5, (4, 3), stride=stride, border="same")
    x = torch.randn(2, 3, 10, 7)
    y = layer(x)
    assert y.shape == (2, 5, math.ceil(10 / stride), math.ceil(7 / stride))
    torch.testing.assert_close(y, conv2d(x, layer.weight, layer.bias, stride, "same"))
    if stride == 1:
        torch.testing.assert_close(y, nn.functional.conv2d(x, layer.weight, layer.bias, padding="same"))


def test_border_full_and_border_overrides_padding() -> None:
    layer = Conv2d(2, 3, 3, padding=5, dilation=2, border="full")
    x = torch.randn(1, 2, 6, 6)
    torch.testing.assert_close(layer(x), nn.functional.conv2d(x, layer.weight, layer.bias, padding=4, dilation=2))
    valid = Conv2d(2, 3, 3, padding=5, border="valid")
    assert valid(x).shape == (1, 3, 4, 4)
    assert "border='valid'" in repr(valid)


def test_flip_is_true_convolution() -> None:
    layer = Conv2d(2, 3, 3, padding=1, flip=True)
    x = torch.randn(1, 2, 6, 6)
    expected = nn.functional.conv2d(x, layer.weight.flip(2, 3), layer.bias, padding=1)
    torch.testing.assert_close(layer(x), expected)
    assert "flip=True" in repr(layer)


def test_unbatched_input_as_torch_accepts_it() -> None:
    reference = nn.Conv2d(2, 3, 3)
    layer = Conv2d.from_torch(reference)
    x = torch.randn(2, 5, 5)
    torch.testing.assert_close(layer(x), reference(x))


def test_bad_arguments_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown border 'circular'"):
        Conv2d(1, 1, 3, border="circular")
    with pytest.raises(ConfigError, match="in_channels=3 and out_channels=4 must both be divisible by groups=2"):
        Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ConfigError, match=r"x \(1, 2, 5, 5\) has 2 channels"):
        Conv2d(3, 4, 3)(torch.randn(1, 2, 5, 5))
