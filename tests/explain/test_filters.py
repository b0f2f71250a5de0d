"""Filters of any layer (Zeiler & Fergus, 2014): the right slice of the right weight, capped."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnkit.errors import ConfigError
from cnnkit.explain.filters import conv_layers, layer_filters
from cnnkit.train.inference import open_model
from cnnkit.viz.grids import plot_filters


def test_first_layer_keeps_its_image_channels_and_deeper_layers_are_capped():
    model = open_model("resnet18", input_size=32).model
    network = model[1]
    first = layer_filters(model)
    assert torch.equal(first, network.conv1.weight.detach()[:64])       # (64, 3, k, k): RGB pictures
    deep = layer_filters(model, "layer3.0.conv2", max_filters=10, max_inputs=5)
    assert torch.equal(deep, network.layer3[0].conv2.weight.detach()[:10, :5])
    assert layer_filters(model, max_filters=3, max_inputs=1).shape == (3, 3, *network.conv1.weight.shape[2:])
    assert conv_layers(model)[0] == "conv1" and "layer4.1.conv2" in conv_layers(model)


def test_errors_name_the_valid_layers(reuse_model):
    with pytest.raises(ConfigError, match="valid layers"):
        layer_filters(reuse_model, "conv7")
    with pytest.raises(ConfigError, match="conv1, conv2"):
        layer_filters(reuse_model, "fc")
    with pytest.raises(ConfigError, match="max_filters"):
        layer_filters(reuse_model, max_filters=0)


def test_filters_plot_as_a_png(reuse_model, tmp_path):
    weight = layer_filters(reuse_model, "conv2")
    path = plot_filters(weight, tmp_path / "f.png")
    from PIL import Image

    assert np.asarray(Image.open(path)).shape[0] > 50
