"""cnnkit.modes: the mode, device and dtype helpers every package may import."""

from __future__ import annotations

import torch
from torch import nn

from cnnkit.modes import device_of, dtype_of, frozen


def test_frozen_restores_mode_and_gradient_flags() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout())
    model.train()
    model[2].eval()
    model[0].bias.requires_grad_(False)
    with frozen(model):
        assert not any(m.training for m in model.modules())
        assert not any(p.requires_grad for p in model.parameters())
    assert model.training and model[1].training and not model[2].training
    assert model[0].weight.requires_grad and not model[0].bias.requires_grad
    with frozen(model):   # an exception inside still restores everything
        try:
            with frozen(model):
                raise RuntimeError
        except RuntimeError:
            pass
        assert not model[0].weight.requires_grad
    assert model.training and model[0].weight.requires_grad


def test_frozen_on_a_shared_parameter_restores_it_once() -> None:
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    with frozen(model):
        assert not shared.weight.requires_grad
    assert shared.weight.requires_grad and shared.bias.requires_grad


def test_device_and_dtype_follow_the_first_parameter_then_buffer() -> None:
    assert device_of(nn.Linear(2, 2)) == torch.device("cpu")
    assert dtype_of(nn.Linear(2, 2).double()) == torch.float64
    buffers_only = nn.BatchNorm2d(2, affine=False).to(torch.float16)
    assert dtype_of(buffers_only) == torch.float16
    assert device_of(nn.ReLU()) == torch.device("cpu") and dtype_of(nn.ReLU()) == torch.get_default_dtype()
    with torch.device("meta"):
        assert device_of(nn.Linear(2, 2)).type == "meta"
