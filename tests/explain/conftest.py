"""A tiny network that reuses one in-place ReLU and one convolution, and its forward pass
written out with torch.nn.functional: the independent reference for the attribution tests."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnkit.layers.normalize import Normalize


class ReuseNet(nn.Module):
    """conv1 -> relu -> conv2 -> relu -> conv2 (again) -> relu -> pool -> fc; relu is in place."""

    def __init__(self, in_chans: int = 2, classes: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(4 * 3 * 3, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.relu(self.conv2(x))
        return self.fc(self.pool(x).flatten(1))


def reference_forward(model: nn.Sequential, x: torch.Tensor, stop: str | None = None) -> torch.Tensor:
    """ReuseNet's forward written with F (no hooks, no in-place): logits, or the output of ``stop``."""
    norm, net = model[0], model[1]
    h = (x - norm.mean.to(x)) / norm.std.to(x)
    outputs = {}
    h = F.conv2d(h, net.conv1.weight.to(x), net.conv1.bias.to(x), padding=1)
    outputs["conv1"] = h
    h = F.relu(h)
    outputs["relu"] = h
    h = F.conv2d(h, net.conv2.weight.to(x), net.conv2.bias.to(x), padding=1)
    outputs["conv2"] = h
    h = F.relu(h)
    outputs["relu#2"] = h
    h = F.conv2d(h, net.conv2.weight.to(x), net.conv2.bias.to(x), padding=1)
    outputs["conv2#2"] = h
    h = F.relu(h)
    outputs["relu#3"] = h
    if stop is not None:
        return outputs[stop]
    return F.linear(F.avg_pool2d(h, 2).flatten(1), net.fc.weight.to(x), net.fc.bias.to(x))


@pytest.fixture
def reuse_model() -> nn.Sequential:
    """ReuseNet behind a Normalize layer, as a loaded run looks; weights from seed 0."""
    torch.manual_seed(0)
    return nn.Sequential(Normalize([0.4, 0.5], [0.3, 0.2]), ReuseNet()).eval()


@pytest.fixture
def reuse_images() -> torch.Tensor:
    """Five 2-channel 6x6 images in [0, 1]."""
    return torch.rand(5, 2, 6, 6, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def reference():
    """The functional forward pass ``reference_forward(model, x, stop=None)``."""
    return reference_forward
