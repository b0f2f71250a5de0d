"""Activation maximisation: beats every real image at the same input norm; batched equals sequential."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from cnnkit.errors import ConfigError
from cnnkit.explain.synthesis.ascent import AscentConfig, image_centre
from cnnkit.explain.layers import activations
from cnnkit.explain.synthesis.maximization import maximize, unit_activation
from cnnkit.layers.normalize import Normalize
from cnnkit.runs import dataset_for, open_model


def test_maximised_unit_beats_every_digit_at_the_same_norm(digits_run: Path) -> None:
    run = open_model(digits_run)
    data = dataset_for(run, split="test")
    x = data.images.float() / 255                                    # (N, 1, 8, 8)
    centre = image_centre(run.model, x)
    rho = float((x - centre).flatten(1).norm(dim=1).max())           # no real image has more energy
    layer, units = "features.2", [0, 5, 11]
    synth = maximize(run.model, layer, units, rho=rho, input_size=8,
                     config=AscentConfig(steps=60, lr=0.05, jitter=0))
    assert ((synth - centre).flatten(1).norm(dim=1) <= rho + 1e-4).all()
    reached = unit_activation(run.model, synth, layer, units)
    with torch.no_grad():
        real = activations(run.model, x, [layer])[layer].mean((2, 3))  # (N, C): each channel's map mean
    best = real[:, units].max(0).values
    assert (reached > best).all(), (reached, best)


def test_batch_equals_units_one_by_one(digits_run: Path) -> None:
    run = open_model(digits_run)
    config = AscentConfig(steps=8, lr=0.05, jitter=1, blur_every=2, seed=4)
    units = [3, (1, 2, 3), "layer"]
    batch = maximize(run.model, "features.2", units, config=config, input_size=8, seed=1)
    for k, unit in enumerate(units):
        one = maximize(run.model, "features.2", [unit], config=config, input_size=8, seed=1)
        torch.testing.assert_close(batch[k:k + 1], one, rtol=1e-4, atol=1e-5)


def test_a_logit_unit_and_the_layer_norm_go_up(digits_run: Path) -> None:
    run = open_model(digits_run)
    start = maximize(run.model, "head.3", [4, "layer"], config=AscentConfig(steps=0), input_size=8)
    end = maximize(run.model, "head.3", [4, "layer"], config=AscentConfig(steps=20, lr=0.05), input_size=8)
    assert (unit_activation(run.model, end, "head.3", [4, "layer"])
            > unit_activation(run.model, start, "head.3", [4, "layer"]) + 0.1).all()


def test_in_place_relus_and_a_reused_module() -> None:
    """resnet18's blocks call one in-place ReLU twice: 'layer1.0.relu#2' is the block's output."""
    run = open_model("resnet18", in_chans=3, input_size=32, num_classes=10)
    model = run.model.train()
    flags = [p.requires_grad for p in model.parameters()]
    config = AscentConfig(steps=3, lr=0.05)
    x = maximize(model, "layer1.0.relu#2", [1, 7], config=config, input_size=32)
    assert x.shape == (2, 3, 32, 32)
    assert model.training and [p.requires_grad for p in model.parameters()] == flags
    start = maximize(model, "layer1.0.relu#2", [1, 7], config=AscentConfig(steps=0), input_size=32)
    model.eval()
    assert (unit_activation(model, x, "layer1.0.relu#2", [1, 7])
            > unit_activation(model, start, "layer1.0.relu#2", [1, 7])).all()


def test_bad_units_are_refused_with_the_range(digits_run: Path) -> None:
    run = open_model(digits_run)
    with pytest.raises(ConfigError, match="out of range.*16 channels"):
        maximize(run.model, "features.2", [16], input_size=8)
    with pytest.raises(ConfigError, match="no spatial map"):
        maximize(run.model, "head.3", [(0, 1, 1)], input_size=8)
    with pytest.raises(ConfigError, match="valid layers"):
        maximize(run.model, "features.99", [0], input_size=8)


def test_a_bare_module_needs_no_normalize_layer() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    x = maximize(net, "0", 2, config=AscentConfig(steps=5), input_size=(6, 7))
    assert x.shape == (1, 3, 6, 7)
    assert isinstance(image_centre(nn.Sequential(Normalize([0.1], [1.0])), x), torch.Tensor)
