"""The voxel networks at their published layer sizes: output shapes, parameter counts from the papers'
layer lists, and a width multiplier that shrinks every layer."""

from __future__ import annotations

import pytest
import torch

from cnnkit.errors import ConfigError
from cnnkit.models import create_model, list_models


def _conv(cin, cout, k):
    return cin * cout * k ** 3 + cout


def _fc(cin, cout):
    return cin * cout + cout


def test_3d_shapenets_has_the_published_layers():
    net = create_model("shapenets3d", num_classes=40)
    expected = (_conv(1, 48, 6) + _conv(48, 160, 5) + _conv(160, 512, 4) + _fc(512 * 8, 1200) + _fc(1200, 40))
    assert sum(p.numel() for p in net.parameters()) == expected          # 11,142,376
    assert net(torch.zeros(2, 1, 30, 30, 30)).shape == (2, 40)
    shapes = [m.weight.shape for m in net.modules() if isinstance(m, torch.nn.Conv3d)]
    assert shapes == [(48, 1, 6, 6, 6), (160, 48, 5, 5, 5), (512, 160, 4, 4, 4)]


def test_voxnet_has_the_published_layers():
    net = create_model("voxnet", num_classes=40)
    expected = _conv(1, 32, 5) + _conv(32, 32, 3) + _fc(32 * 216, 128) + _fc(128, 40)
    assert sum(p.numel() for p in net.parameters()) == expected          # 921,736
    assert net(torch.zeros(3, 1, 32, 32, 32)).shape == (3, 40)


def test_completion_maps_two_channels_to_one_logit_per_voxel_and_width_shrinks_it():
    full = create_model("shapenets3d_completion")
    narrow = create_model("shapenets3d_completion", width=0.25)
    x = torch.zeros(2, 2, 30, 30, 30)
    assert full(x).shape == narrow(x).shape == (2, 1, 30, 30, 30)
    assert sum(p.numel() for p in narrow.parameters()) < 0.1 * sum(p.numel() for p in full.parameters())
    assert set(list_models(task="voxels")) == {"shapenets3d", "shapenets3d_completion", "voxnet"}


def test_the_published_grid_sizes_are_enforced():
    with pytest.raises(ConfigError, match="30\\^3"):
        create_model("shapenets3d", input_size=32)
    with pytest.raises(ConfigError, match="32\\^3"):
        create_model("voxnet", input_size=30)
