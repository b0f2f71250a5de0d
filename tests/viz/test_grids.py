"""Tests for cnnkit.viz.grids: first-layer filters and captioned image grids."""

from __future__ import annotations

import numpy as np
import pytest

from cnnkit.viz import plot_filters, plot_image_grid


def _dark_cells(pixels: np.ndarray, find_runs) -> list[tuple[int, int, int, int]]:
    """(row0, row1, col0, col1) of each large dark block: black images on the white page.

    Captions are dark too but thin, so a column counts only where it is dark for a long run.
    """
    dark = pixels.max(axis=-1) < 40                                # (H, W)
    boxes = []
    for c0, c1 in find_runs(dark.sum(axis=0) > 60, min_length=60):
        for r0, r1 in find_runs(dark[:, c0:c1].mean(axis=1) > 0.5, min_length=20):
            boxes.append((r0, r1, c0, c1))
    return boxes


def _squares(n: int, lit: set[int]) -> np.ndarray:
    """``n`` black 20x20 greyscale images; those in ``lit`` carry a white 8x8 square in the middle."""
    images = np.zeros((n, 1, 20, 20), dtype=np.float32)
    for i in lit:
        images[i, 0, 6:14, 6:14] = 1.0
    return images


def test_each_image_lands_in_its_cell(tmp_path, read_png, find_runs):
    images = _squares(3, lit={1})
    pixels = read_png(plot_image_grid(images, ["a", "b", "c"], tmp_path / "grid.png", ncols=3))
    boxes = sorted(_dark_cells(pixels, find_runs), key=lambda b: b[2])
    assert len(boxes) == 3
    centres = [pixels[(r0 + r1) // 2, (c0 + c1) // 2].mean() for r0, r1, c0, c1 in boxes]
    assert centres[0] < 40 and centres[2] < 40                     # plain black images
    assert centres[1] > 215                                        # the white square, in cell 1 only


def test_ncols_wraps_rows_left_to_right(tmp_path, read_png, find_runs):
    images = _squares(4, lit={2})
    pixels = read_png(plot_image_grid(images, [""] * 4, tmp_path / "grid.png", ncols=2))
    boxes = sorted(_dark_cells(pixels, find_runs), key=lambda b: (b[0] // 50, b[2]))
    assert len(boxes) == 4
    centres = [pixels[(r0 + r1) // 2, (c0 + c1) // 2].mean() for r0, r1, c0, c1 in boxes]
    lit = [i for i, centre in enumerate(centres) if centre > 215]
    assert lit == [2]                                             # second row, first column
    assert boxes[2][0] > boxes[0][1] and boxes[2][2] == pytest.approx(boxes[0][2], abs=2)


def test_uint8_and_float_render_the_same(tmp_path, read_png):
    rng = np.random.default_rng(0)
    as_uint8 = rng.integers(0, 256, size=(2, 3, 12, 12), dtype=np.uint8)
    as_float = as_uint8.astype(np.float64) / 255.0
    a = read_png(plot_image_grid(as_uint8, ["x", "y"], tmp_path / "a.png"))
    b = read_png(plot_image_grid(as_float, ["x", "y"], tmp_path / "b.png"))
    assert np.array_equal(a, b)


def test_rgb_images_keep_their_colour(tmp_path, read_png):
    images = np.zeros((1, 3, 16, 16))
    images[0, 0] = 1.0                                            # pure red
    pixels = read_png(plot_image_grid(images, ["red"], tmp_path / "grid.png"))
    red = (pixels[..., 0] > 220) & (pixels[..., 1] < 40) & (pixels[..., 2] < 40)
    assert red.sum() > 1000


def test_caption_colours(tmp_path, read_png):
    images = _squares(2, lit=set())
    captions = ["true: Shirt\npred: T-shirt/top (0.83)", "true: Bag\npred: Coat (0.51)"]
    plain = read_png(plot_image_grid(images, captions, tmp_path / "plain.png"))
    red = read_png(plot_image_grid(images, captions, tmp_path / "red.png", caption_colors=["#ff0000"] * 2))

    def reddish(pixels):
        return int(((pixels[..., 0] > 200) & (pixels[..., 1] < 120)).sum())

    assert reddish(plain) == 0 and reddish(red) > 100


def test_greyscale_without_channel_axis_and_torch_input(tmp_path, read_png):
    torch = pytest.importorskip("torch")
    read_png(plot_image_grid(np.zeros((2, 8, 8)), ["a", "b"], tmp_path / "a.png"))
    read_png(plot_image_grid(torch.rand(2, 1, 8, 8), ["a", "b"], tmp_path / "b.png", title="tensors"))


def test_no_images_renders_a_placeholder(tmp_path, read_png):
    read_png(plot_image_grid(np.zeros((0, 1, 8, 8)), [], tmp_path / "grid.png"))


@pytest.mark.parametrize(
    ("images", "captions", "kwargs", "message"),
    [
        (np.zeros((2, 2, 8, 8)), ["a", "b"], {}, "C = 1 or 3"),
        (np.zeros((2, 1, 8, 8)), ["a"], {}, "captions"),
        (np.zeros((2, 1, 8, 8)), ["a", "b"], {"caption_colors": ["red"]}, "colours"),
        (np.zeros((2, 1, 8, 8)), ["a", "b"], {"ncols": 0}, "ncols"),
    ],
)
def test_image_grid_bad_input(tmp_path, assert_no_file, images, captions, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_image_grid(images, captions, tmp_path / "grid.png", **kwargs)
    assert_no_file(tmp_path / "grid.png")


def _colour_columns(pixels: np.ndarray, find_runs) -> list[tuple[int, int]]:
    """Column runs of coloured (saturated) pixels, left to right; the last is the colour bar."""
    coloured = np.abs(pixels[..., 0] - pixels[..., 2]) > 60        # (H, W)
    return find_runs(coloured.sum(axis=0) > 10, min_length=3)


def test_vertical_edge_filter_is_blue_left_red_right(tmp_path, read_png, find_runs):
    weight = np.zeros((1, 1, 5, 5))
    weight[0, 0, :, :2] = -1.0
    weight[0, 0, :, 3:] = 1.0
    pixels = read_png(plot_filters(weight, tmp_path / "filters.png"))
    *mosaic, colour_bar = _colour_columns(pixels, find_runs)
    c0, c1 = mosaic[0][0], mosaic[-1][1]
    tile = pixels[:, c0:c1]
    rows = np.flatnonzero((np.abs(tile[..., 0] - tile[..., 2]) > 60).any(axis=1))
    tile = tile[rows.min(): rows.max() + 1]                        # (h, w, 3)
    width = tile.shape[1]
    left, right = tile[:, : width // 5], tile[:, -width // 5:]
    middle = tile[:, int(0.45 * width): int(0.55 * width)]
    assert (left[..., 2] - left[..., 0]).mean() > 60               # negative weights: blue
    assert (right[..., 0] - right[..., 2]).mean() > 60             # positive weights: red
    assert middle.min() > 230                                      # zero: white on the diverging scale
    # crisp kernel pixels: each image row of the tile is the same (the edge is vertical)
    assert np.abs(tile - tile[tile.shape[0] // 2]).max() < 8


def test_rgb_filters_share_one_scale(tmp_path, read_png, find_runs):
    weight = np.zeros((2, 3, 3, 3))
    weight[0, 0] = 1.0                                             # strong red
    weight[1, 0] = 0.5                                             # half as strong
    pixels = read_png(plot_filters(weight, tmp_path / "filters.png"))
    redness = pixels[..., 0] - pixels[..., 1]                      # (H, W)
    tiles = find_runs((redness > 30).sum(axis=0) > 10, min_length=10)
    assert len(tiles) == 2
    strong, weak = (np.median(redness[:, a:b][redness[:, a:b] > 30]) for a, b in tiles)
    # jointly normalised around mid-grey: 0.5 + 0.5 * w / max|w| -> red-green gaps of 127 and 64
    assert strong == pytest.approx(127, abs=6) and weak == pytest.approx(64, abs=6)


@pytest.mark.parametrize(("in_chans", "columns"), [(6, 6), (32, 4)])
def test_other_input_channels(tmp_path, read_png, find_runs, in_chans, columns):
    """Up to 16 input channels: one column per channel; more: the channel mean, one tile per filter."""
    weight = np.random.default_rng(0).uniform(0.5, 1.0, size=(4, in_chans, 3, 3))   # all clearly red
    pixels = read_png(plot_filters(weight, tmp_path / "filters.png", title="conv"))
    *tiles, colour_bar = _colour_columns(pixels, find_runs)
    assert len(tiles) == columns                                  # white gaps between tile columns


@pytest.mark.parametrize(
    ("weight", "message"),
    [(np.zeros((2, 3, 3)), "O, I, kh, kw"), (np.full((1, 1, 3, 3), np.nan), "NaN")],
)
def test_filters_bad_input(tmp_path, assert_no_file, weight, message):
    with pytest.raises(ValueError, match=message):
        plot_filters(weight, tmp_path / "filters.png")
    assert_no_file(tmp_path / "filters.png")
