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


def test_each_column_has_a_colour_bar_saying_what_the_value_is(tmp_path, monkeypatch):
    import cnnkit.viz.attribution as attribution

    seen = {}
    save = attribution.save_figure

    def inspect(fig, path):  # read the figure before saving clears it
        bars = fig.axes[-3:]  # drawn after the tiles
        seen["axes"], seen["notes"] = len(fig.axes), {t.get_text() for t in fig.texts}
        seen["ticks"] = [[t.get_text() for t in bar.get_xticklabels()] for bar in bars]
        tiles = [fig.axes[r * 4 + 2].get_images()[0] for r in range(2)]  # the IG column
        seen["ig"] = [(tile.get_clim(), tile.get_cmap().name) for tile in tiles]
        return save(fig, path)

    monkeypatch.setattr(attribution, "save_figure", inspect)
    rng = np.random.default_rng(1)
    signed_once = rng.random((2, 8, 8))
    signed_once[1, 0, 0] = -0.5  # one signed map makes the whole column signed
    maps = {"saliency": rng.random((2, 8, 8)), "IG": signed_once, "Grad-CAM": rng.random((2, 8, 8))}
    plot_attributions(rng.random((2, 1, 8, 8)), maps, tmp_path / "a.png", scales={"saliency": "|gradient|"})
    assert seen["axes"] == 2 * 4 + 3
    assert seen["ticks"] == [["0", "0.5", "1"], ["-1", "0", "1"], ["0", "0.5", "1"]]
    assert {"|gradient|", "value / image's max |value|", "value / image's max"} <= seen["notes"]
    # both IG tiles use the signed scale, the one without negative values included
    assert seen["ig"] == [((-1.0, 1.0), "RdBu_r"), ((-1.0, 1.0), "RdBu_r")]
