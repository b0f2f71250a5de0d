"""FastNet: pooling stops at small maps, and widths and depth are as configured."""

from __future__ import annotations

import torch

from cnnkit.models import create_model


def _pools(model: torch.nn.Module) -> int:
    return sum(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())


def test_pools_only_while_the_map_is_at_least_6_pixels() -> None:
    assert _pools(create_model("fastnet", input_size=28)) == 3   # 28 -> 14 -> 7 -> 3
    assert _pools(create_model("fastnet", input_size=8)) == 1    # 8 -> 4, then 4 < 6 keeps 4
    assert _pools(create_model("fastnet", input_size=64, widths=[4] * 5, depths=[1] * 5)) == 4  # 64 -> ... -> 4


def test_widths_and_depths() -> None:
    model = create_model("fastnet", widths=[8, 16], depths=[1, 3], num_classes=3)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16, 16, 16]
    assert [c.in_channels for c in convs] == [1, 8, 16, 16]
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 3)


def test_bad_depths_raise_config_error() -> None:
    import pytest

    from cnnkit.errors import ConfigError

    with pytest.raises(ConfigError, match="one depth >= 1 per stage"):
        create_model("fastnet", widths=[8, 16], depths=[1])


def test_flatten_head_keeps_a_3x3_grid_at_any_input_size() -> None:
    for size in (8, 28, 64):
        model = create_model("fastnet", num_classes=5, input_size=size)
        linear = model.head[-1]
        assert linear.in_features == 64 * 3 * 3
        assert model(torch.randn(2, 1, size, size)).shape == (2, 5)
    pooled = create_model("fastnet", head="maxpool")
    assert pooled.head[-1].in_features == 64
