"""A unit's computation, written out by the explorer, against the model's own activations
(cnnkit.explain.activations, an independent path) and brute-force receptive fields."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnkit.explain import activations
from cnnkit.layers.conv import Conv2d as BorderConv2d
from cnnkit.layers.normalize import Normalize
from cnnkit.runs.format import ModelInfo, Run
from cnnkit.runs.opening import open_model
from cnnkit.serve.encoding import encode_pixels
from cnnkit.serve.explorer import Explorer


class Odd(nn.Module):
    """Every padding the explorer must undo: int, 'same', reflect, groups, dilation, stride, cnnkit's
    'full' border with a flipped kernel, padded max and average pools, adaptive pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.b = nn.Conv2d(6, 6, 3, padding="same", dilation=2, groups=3, padding_mode="reflect")
        self.c = BorderConv2d(6, 4, 2, border="full", flip=True)
        self.act = nn.LeakyReLU(0.1)
        self.max = nn.MaxPool2d(3, stride=2, padding=1)
        self.avg = nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=True)
        self.norm = nn.BatchNorm2d(4)
        self.adapt = nn.AdaptiveAvgPool2d(3)
        self.fc = nn.Linear(36, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.c(self.b(self.a(x))))
        x = self.norm(self.avg(self.max(x)))
        return self.fc(self.adapt(x).flatten(1))


def _run(network: nn.Module, size: int, chans: int = 3) -> Run:
    torch.manual_seed(0)
    info = ModelInfo(architecture="odd", kwargs={}, classes=[str(i) for i in range(5)], in_chans=chans,
                     input_size=size, mean=[0.5] * chans, std=[0.25] * chans, dataset=None)
    for bn in network.modules():
        if isinstance(bn, nn.BatchNorm2d):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    return Run(path=None, model=nn.Sequential(Normalize(info.mean, info.std), network).eval(), info=info)


def _every_layer_matches(explorer: Explorer, x: torch.Tensor, per_layer: int = 3) -> int:
    source = {"pixels": encode_pixels(x)}
    with torch.no_grad():
        truth = activations(explorer.model, explorer.image(source), [layer.id for layer in explorer.mapped])
    generator = torch.Generator().manual_seed(1)
    checked = 0
    for layer in explorer.mapped:
        limits = layer.shape if len(layer.shape) == 3 else (layer.shape[0], 1, 1)
        for _ in range(per_layer):
            c, y, x_ = (int(torch.randint(n, (1,), generator=generator)) for n in limits)
            unit = explorer.unit(source, layer.id, c, y, x_)
            expected = float(truth[layer.id][0, c, y, x_] if len(layer.shape) == 3 else truth[layer.id][0, c])
            assert unit["value"] == pytest.approx(expected, rel=1e-5, abs=1e-5), layer.id
            if "sum" in unit:
                assert unit["sum"] == pytest.approx(expected, rel=1e-4, abs=1e-4), (layer.id, unit["kind"])
            if unit["kind"] == "conv":
                products = torch.tensor(unit["products"])
                assert products.sum((1, 2)).tolist() == pytest.approx(unit["channel_sums"], abs=1e-5)
                assert torch.tensor(unit["patch"]).mul(torch.tensor(unit["kernel"])).allclose(products)
            if unit["kind"] == "pool" and unit["argmax"] is not None:
                dy, dx = unit["argmax"]
                assert unit["patch"][dy][dx] == pytest.approx(expected, abs=1e-6)
            checked += 1
    return checked


def test_every_padding_stride_group_and_pool_gives_the_models_value():
    explorer = Explorer(_run(Odd(), 13), samples=2)
    assert {layer.kind for layer in explorer.mapped} >= {"conv", "pool", "linear", "norm", "activation"}
    assert _every_layer_matches(explorer, torch.rand(3, 13, 13, generator=torch.Generator().manual_seed(0)), 6) > 40


@pytest.mark.parametrize("name,size,chans", [("lenet5", 28, 1), ("resnet18", 32, 3), ("googlenet", 64, 3)])
def test_zoo_models_units_give_the_models_value(name, size, chans):
    explorer = Explorer(open_model(name, input_size=size, in_chans=chans), samples=1)
    _every_layer_matches(explorer, torch.rand(chans, size, size, generator=torch.Generator().manual_seed(0)), 1)


def test_the_activation_after_a_conv_is_applied_to_its_sum():
    explorer = Explorer(_run(Odd(), 13), samples=1)
    unit = explorer.unit({"sample": 0}, "c", 1, 2, 3)
    expected = torch.nn.functional.leaky_relu(torch.tensor(unit["sum"]), 0.1)
    assert unit["activation"]["name"] == "LeakyReLU"
    assert unit["activation"]["value"] == pytest.approx(float(expected), abs=1e-6)


def test_pixels_outside_the_receptive_field_do_not_change_the_unit():
    explorer = Explorer(open_model("lenet5"), samples=1)
    x = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(3))

    layer = next(l for l in explorer.mapped if l.kind == "conv" and l.id != explorer.mapped[0].id)
    unit = explorer.unit({"pixels": encode_pixels(x)}, layer.id, 2, 3, 4)
    box = unit["field"]
    inside = torch.zeros(28, 28, dtype=torch.bool)
    inside[box["y0"]:box["y1"] + 1, box["x0"]:box["x1"] + 1] = True
    assert 0 < inside.sum() < 28 * 28
    changed = torch.where(inside, x[0], 1 - x[0])[None]
    moved = explorer.unit({"pixels": encode_pixels(changed)}, layer.id, 2, 3, 4)
    assert moved["value"] == pytest.approx(unit["value"], abs=1e-3)   # only uint8 rounding differs
    # and a pixel inside it does change it
    poked = x.clone()
    poked[0, box["y0"]:box["y1"] + 1, box["x0"]:box["x1"] + 1] = 1 - poked[0, box["y0"]:box["y1"] + 1, box["x0"]:box["x1"] + 1]
    assert explorer.unit({"pixels": encode_pixels(poked)}, layer.id, 2, 3, 4)["value"] != pytest.approx(unit["value"], abs=1e-3)
