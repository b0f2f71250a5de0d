"""LeNet-5 against an independent functional re-implementation with the same weights."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnnkit.models import create_model


def test_lenet5_equals_functional_reference() -> None:
    torch.manual_seed(0)
    model = create_model("lenet5").eval()
    w = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    x = torch.rand(4, 1, 28, 28)
    h = F.max_pool2d(F.relu(F.conv2d(x, w[0].weight, w[0].bias, padding=2)), 2)   # (4, 6, 14, 14)
    h = F.max_pool2d(F.relu(F.conv2d(h, w[1].weight, w[1].bias)), 2)              # (4, 16, 5, 5)
    h = F.relu(F.linear(h.flatten(1), w[2].weight, w[2].bias))
    h = F.relu(F.linear(h, w[3].weight, w[3].bias))
    expected = F.linear(h, w[4].weight, w[4].bias)
    torch.testing.assert_close(model(x), expected)


def test_lenet5_layer_sizes_follow_the_paper() -> None:
    model = create_model("lenet5")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [c.out_channels for c in convs] == [6, 16]
    assert [c.kernel_size for c in convs] == [(5, 5), (5, 5)]
    assert [(l.in_features, l.out_features) for l in linears] == [(400, 120), (120, 84), (84, 10)]
