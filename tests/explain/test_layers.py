"""Layer taps: names as `cnnkit summary` prints them, in-place ReLUs, reused modules, early stop."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnkit.analysis import summary
from cnnkit.errors import ConfigError
from cnnkit.explain.layers import activations, find_layer, layer_names, tap
from cnnkit.layers.normalize import Normalize
from cnnkit.models import create_model


class _Twice(nn.Module):
    """conv -> in-place ReLU -> the same conv again -> the same in-place ReLU again."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.head = nn.Linear(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv(x))
        x = self.act(self.conv(x))
        return self.head(x.mean((2, 3)))


class _Boom(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the layers after the tapped one must not run")


def test_names_are_the_summary_names_without_the_normalisation_layer() -> None:
    network = create_model("lenet5")
    wrapped = nn.Sequential(Normalize([0.5], [0.5]), network)
    rows = summary(network, 28).rows
    assert [r.name for r in rows if "#" not in r.name] == [
        n for n in layer_names(wrapped) if not list(dict(network.named_modules())[n].children())]
    for row in rows:
        activations(wrapped, torch.rand(1, 1, 28, 28), [row.name])  # every printed name is accepted


def test_activation_equals_the_partial_forward_pass() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 6, 3), nn.Flatten(), nn.LazyLinear(2))
    x = torch.rand(3, 1, 10, 10)
    model(x)
    got = activations(model, x, ["2"])["2"]
    torch.testing.assert_close(got, model[2](model[1](model[0](x))), rtol=0, atol=0)


def test_in_place_relu_leaves_the_recorded_output_and_its_gradient_intact() -> None:
    torch.manual_seed(0)
    model = _Twice()
    x = torch.randn(2, 2, 5, 5, requires_grad=True)
    with tap(model, ["conv", "conv#2", "act#2"]) as seen:
        model(x)
        first = seen["conv"]
        (grad,) = torch.autograd.grad(first.sum(), x)
    reference = F.conv2d(x, model.conv.weight, model.conv.bias, padding=1)
    torch.testing.assert_close(first, reference)
    assert (first < 0).any()  # a hook that kept the tensor itself would see it overwritten by the ReLU
    (expected,) = torch.autograd.grad(reference.sum(), x)
    torch.testing.assert_close(grad, expected)
    second = F.conv2d(reference.relu(), model.conv.weight, model.conv.bias, padding=1)
    torch.testing.assert_close(seen["conv#2"], second)
    torch.testing.assert_close(seen["act#2"], second.relu())


def test_a_call_number_beyond_the_calls_is_refused() -> None:
    with pytest.raises(ConfigError, match="did not run"):
        activations(_Twice(), torch.rand(1, 2, 4, 4), ["conv#3"])
    with pytest.raises(ConfigError, match="call number"):
        find_layer(_Twice(), "conv#0")


def test_unknown_layer_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="no layer 'conv9'.*conv, act, head"):
        find_layer(_Twice(), "conv9")


def test_the_network_stops_after_the_last_tapped_layer() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), _Boom())
    out = activations(model, torch.rand(1, 1, 6, 6), ["1"])["1"]
    assert out.shape == (1, 2, 4, 4)


def test_the_dict_is_refreshed_on_every_forward_pass() -> None:
    model = nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU())
    with tap(model, ["0"]) as seen:
        model(torch.zeros(1, 1, 2, 2))
        first = seen["0"]
        model(torch.ones(1, 1, 2, 2))
        assert not torch.equal(first, seen["0"])
    assert not model._forward_hooks and not model[0]._forward_hooks  # handles removed
