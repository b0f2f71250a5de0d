"""Inverting representations (Mahendran & Vedaldi, 2015): early layers give the image back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cnnkit.explain.synthesis.ascent import AscentConfig
from cnnkit.explain.synthesis.inversion import correlation, invert, invert_layers
from cnnkit.explain.layers import activations
from cnnkit.runs import open_model, sample_images


def test_correlation_matches_numpy() -> None:
    a, b = torch.rand(3, 1, 4, 4, dtype=torch.float64), torch.rand(3, 1, 4, 4, dtype=torch.float64)
    expected = [np.corrcoef(a[k].flatten().numpy(), b[k].flatten().numpy())[0, 1] for k in range(3)]
    torch.testing.assert_close(correlation(a, b), torch.tensor(expected, dtype=torch.float64))


def test_first_layer_inversion_gives_the_image_back(digits_run: Path) -> None:
    run = open_model(digits_run)
    x, _ = sample_images(run, 4, seed=0)
    layers = ["features.0", "features.6"]
    config = AscentConfig(steps=120, lr=0.05, tv=0.001)
    r = invert_layers(run.model, x, layers, config=config)
    assert r.shape == (2, 4, 1, 8, 8)
    assert (correlation(r[0], x) > 0.9).all(), correlation(r[0], x)
    # the reconstruction's features match the original's far better than the start's did
    with torch.no_grad():
        goal = activations(run.model, x, layers)
        for l, name in enumerate(layers):
            got = activations(run.model, r[l], [name])[name]
            assert ((got - goal[name]).norm() / goal[name].norm()) < 0.3
    # one layer alone is the same computation as its slice of the stacked batch
    torch.testing.assert_close(invert(run.model, x, "features.0", config=config), r[0], rtol=1e-4, atol=1e-4)
