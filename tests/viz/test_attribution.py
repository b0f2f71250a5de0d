"""The attribution figure: one row per image, one column per method, maps scaled per image."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnnkit.viz.attribution import plot_attributions


def test_plot_writes_a_png_with_one_row_per_image(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((3, 1, 8, 8))
    maps = {"saliency": rng.random((3, 8, 8)), "IG": rng.normal(size=(3, 8, 8)), "Grad-CAM": np.zeros((3, 8, 8))}
    two = plot_attributions(images[:2], {k: v[:2] for k, v in maps.items()}, tmp_path / "two.png",
                            captions=["a", "b"])
    three = plot_attributions(images, maps, tmp_path / "three.png", captions=["a", "b", "c\nd"], title="t")
    h2, w2 = np.asarray(Image.open(two)).shape[:2]
    h3, w3 = np.asarray(Image.open(three)).shape[:2]
    assert h3 > h2 and w3 >= w2
    with pytest.raises(ValueError, match="expected \\(N, H, W\\)"):
        plot_attributions(images, {"saliency": np.zeros((3, 4, 4))}, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="captions"):
        plot_attributions(images, maps, tmp_path / "bad.png", captions=["a"])
    assert not (tmp_path / "bad.png").exists()
