"""Pictures of a network: filters of any layer (Zeiler & Fergus, 2014), the right slice of the right
weight, capped; feature maps at a named layer against the functional forward pass written in the test."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnkit.errors import ConfigError
from cnnkit.explain.pictures import conv_layers, feature_maps, layer_filters
from cnnkit.runs import open_model
from cnnkit.viz.feature_maps import plot_feature_maps
from cnnkit.viz.grids import plot_filters


def test_first_layer_keeps_its_image_channels_and_deeper_layers_are_capped():
    model = open_model("lenet5", in_chans=3).model
    network = model[1]
    first = layer_filters(model)
    assert torch.equal(first, network.features[0].weight.detach())       # (6, 3, 5, 5): RGB pictures
    assert layer_filters(model, max_filters=3, max_inputs=1).shape == (3, 3, 5, 5)
    deep = layer_filters(model, "features.3", max_filters=10, max_inputs=4)
    assert torch.equal(deep, network.features[3].weight.detach()[:10, :4])
    assert conv_layers(model) == ["features.0", "features.3"]


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


@pytest.mark.parametrize("layer", ["conv1", "relu#2", "conv2#2", "relu#3"])
def test_maps_equal_the_functional_forward(reuse_model, reuse_images, reference, layer):
    expected = reference(reuse_model, reuse_images, stop=layer)
    assert torch.allclose(feature_maps(reuse_model, reuse_images, layer), expected, atol=1e-6)
    assert torch.allclose(feature_maps(reuse_model, reuse_images, layer, max_channels=2), expected[:, :2], atol=1e-6)


def test_flat_layers_unknown_names_and_state(reuse_model, reuse_images):
    assert feature_maps(reuse_model, reuse_images, "fc").shape == (5, 3, 1, 1)
    with pytest.raises(ConfigError, match="valid layers"):
        feature_maps(reuse_model, reuse_images, "nope")
    reuse_model.train()
    feature_maps(reuse_model, reuse_images, "conv1")
    assert reuse_model.training and all(p.requires_grad for p in reuse_model.parameters())


def test_plot_feature_maps(reuse_model, reuse_images, tmp_path):
    from PIL import Image

    path = plot_feature_maps(feature_maps(reuse_model, reuse_images, "conv1")[0], tmp_path / "m.png", title="conv1")
    assert np.asarray(Image.open(path)).shape[1] > 100
    with pytest.raises(ValueError, match="K, h, w"):
        plot_feature_maps(np.zeros((2, 3)), tmp_path / "bad.png")
