"""Feature maps at a named layer against the functional forward pass written in the test."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnkit.errors import ConfigError
from cnnkit.explain.feature_maps import feature_maps
from cnnkit.viz.feature_maps import plot_feature_maps


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
