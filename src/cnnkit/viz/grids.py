"""Image grids: first-layer filters and captioned sample images.

Showing the first convolution's kernels as pictures is how Krizhevsky et al. (2012) and
Zeiler & Fergus (2014, arXiv:1311.2901) read what a CNN learns first: oriented edges,
colour blobs and Gabor-like patterns. The captioned grid shows test images with their
true and predicted labels, e.g. the misclassified ones.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps

from cnnkit.viz._arrays import to_numpy
from cnnkit.viz._figure import NOTE_COLOR, SMALL_FONT, TEXT_COLOR, TITLE_FONT, new_figure, save_figure

__all__ = ["plot_filters", "plot_image_grid"]

# Layers with more input channels than this show the mean over input channels instead of
# one row per filter and one column per input channel.
_MAX_CHANNEL_COLUMNS = 16


def _mosaic(tiles: np.ndarray, ncols: int, fill: float) -> np.ndarray:
    """Tiles (T, h, w[, 3]) laid out on a grid with a one-pixel ``fill`` gap between them."""
    count, h, w = tiles.shape[:3]
    nrows = math.ceil(count / ncols)
    shape = (nrows * (h + 1) - 1, ncols * (w + 1) - 1, *tiles.shape[3:])
    out = np.full(shape, fill, dtype=np.float64)
    for t in range(count):
        r, c = divmod(t, ncols)
        out[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = tiles[t]
    return out


def plot_filters(
    weight: Any,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    ncols: int | None = None,
) -> Path:
    """First-layer convolution filters as images (Krizhevsky et al., 2012; Zeiler & Fergus, 2014).

    ``weight`` is (O, I, kh, kw), numpy or torch. With I == 3 each filter is an RGB image,
    scaled jointly and symmetrically so that mid-grey is a zero weight. With I == 1 each is
    drawn on a diverging colour scale symmetric around 0 (blue negative, red positive).
    With 1 < I <= 16 (I != 3) there is one row per filter and one column per input channel;
    with I > 16 each filter is shown as its mean over input channels. Kernel pixels are
    drawn as crisp squares (nearest-neighbour). Returns ``path``.
    """
    w = to_numpy(weight).astype(np.float64)
    if w.ndim != 4 or 0 in w.shape:
        raise ValueError(f"filters must be a non-empty (O, I, kh, kw) array; got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("the filter weights contain NaN or infinity")
    if ncols is not None and ncols < 1:
        raise ValueError(f"ncols must be at least 1; got {ncols}")
    out_chans, in_chans, kh, kw = w.shape
    scale = float(np.abs(w).max()) or 1.0

    note = (
        f"{out_chans} filter{'s' if out_chans != 1 else ''}, "
        f"{in_chans} input channel{'s' if in_chans != 1 else ''}, {kh}x{kw}"
    )
    rgb = in_chans == 3
    if rgb:
        tiles = 0.5 + 0.5 * w.transpose(0, 2, 3, 1) / scale    # (O, kh, kw, 3) in [0, 1]
        columns = ncols
    elif in_chans == 1 or in_chans > _MAX_CHANNEL_COLUMNS:
        if in_chans > 1:
            w = w.mean(axis=1, keepdims=True)
            scale = float(np.abs(w).max()) or 1.0
            note += "; mean over input channels"
        tiles = w[:, 0]                                          # (O, kh, kw)
        columns = ncols
    else:
        tiles = w.reshape(out_chans * in_chans, kh, kw)          # (O*I, kh, kw)
        columns = in_chans
        note += "; rows: filters, columns: input channels"
    count = tiles.shape[0]
    if columns is None:
        columns = min(count, max(8, math.ceil(math.sqrt(count))))
    columns = max(1, min(int(columns), count))
    mosaic = _mosaic(tiles, columns, 1.0 if rgb else np.nan)
    mosaic_h, mosaic_w = mosaic.shape[:2]

    # Size the figure so a kernel pixel is about 0.28 in, within a readable page width.
    image_w = float(np.clip(mosaic_w * 0.28, 3.0, 9.5))
    image_h = image_w * mosaic_h / mosaic_w
    if image_h > 9.0:
        image_w, image_h = image_w * 9.0 / image_h, 9.0
    left, right = 0.25, (1.15 if not rgb else 0.25)
    top, bottom = 0.6, 0.25
    fig_w, fig_h = max(image_w + left + right, 4.5), image_h + top + bottom
    fig = new_figure(fig_w, fig_h, layout=None)
    x0 = (fig_w - right - left - image_w) / 2 + left
    ax = fig.add_axes((x0 / fig_w, bottom / fig_h, image_w / fig_w, image_h / fig_h))
    ax.set_axis_off()
    if rgb:
        ax.imshow(np.clip(mosaic, 0.0, 1.0), interpolation="nearest", aspect="equal")
    else:
        cmap = colormaps["RdBu_r"].with_extremes(bad="white")
        image = ax.imshow(mosaic, cmap=cmap, vmin=-scale, vmax=scale, interpolation="nearest", aspect="equal")
        bar_h = min(image_h, 3.0)
        bar_y = bottom + (image_h - bar_h) / 2
        cax = fig.add_axes(((x0 + image_w + 0.2) / fig_w, bar_y / fig_h, 0.14 / fig_w, bar_h / fig_h))
        colorbar = fig.colorbar(image, cax=cax)
        colorbar.ax.tick_params(labelsize=SMALL_FONT, colors=TEXT_COLOR)
        colorbar.outline.set_visible(False)
    fig.text(0.5, 1 - 0.18 / fig_h, title or "first-layer filters", ha="center", va="top",
             fontsize=TITLE_FONT, color=TEXT_COLOR)
    fig.text(0.5, 1 - 0.42 / fig_h, note, ha="center", va="top", fontsize=SMALL_FONT, color=NOTE_COLOR)
    return save_figure(fig, path)


def _as_images(images: Any) -> np.ndarray:
    """Images as float (N, H, W, C) in [0, 1] from (N, C, H, W) or (N, H, W), uint8 or float."""
    x = to_numpy(images)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(
            f"images must be (N, C, H, W) with C = 1 or 3, or (N, H, W); got shape {x.shape}"
        )
    if x.dtype == np.uint8:
        x = x.astype(np.float64) / 255.0
    else:
        x = np.clip(np.nan_to_num(x.astype(np.float64)), 0.0, 1.0)
    return x.transpose(0, 2, 3, 1)                               # (N, H, W, C)


def _text_width(texts: Sequence[str], fontsize: float) -> float:
    """The width in inches of the widest of ``texts`` as matplotlib draws it at ``fontsize``."""
    scratch = new_figure(1.0, 1.0, layout=None)
    renderer = scratch.canvas.get_renderer()
    widest = 0.0
    for text in texts:
        if str(text):
            artist = scratch.text(0, 0, str(text), fontsize=fontsize, linespacing=1.2)
            widest = max(widest, artist.get_window_extent(renderer).width / scratch.dpi)
    scratch.clear()
    return widest


def plot_image_grid(
    images: Any,
    captions: Sequence[str],
    path: str | os.PathLike[str],
    *,
    ncols: int = 8,
    title: str | None = None,
    caption_colors: Sequence[str] | None = None,
    cell_inches: float = 1.3,
) -> Path:
    """Images in a grid, each with a caption under it (e.g. true and predicted labels of a test image).

    ``images`` is (N, C, H, W) with C = 1 (greyscale) or 3 (RGB), float in [0, 1] or uint8;
    captions may span several lines. ``caption_colors`` sets one colour per caption (e.g.
    red for a wrong prediction). Returns ``path``.
    """
    x = _as_images(images)
    count = x.shape[0]
    if len(captions) != count:
        raise ValueError(f"got {len(captions)} captions for {count} images")
    if caption_colors is not None and len(caption_colors) != count:
        raise ValueError(f"got {len(caption_colors)} caption colours for {count} images")
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1; got {ncols}")

    if count == 0:
        fig = new_figure(6.0, 1.0, layout=None)
        fig.text(0.5, 0.5, f"{title + ': ' if title else ''}no images", ha="center", va="center",
                 fontsize=TITLE_FONT, color=NOTE_COLOR)
        return save_figure(fig, path)

    columns = min(ncols, count)
    rows = math.ceil(count / columns)
    height, width = x.shape[1:3]
    cell_w = cell_inches                               # inches per image
    cell_h = cell_w * height / width
    gap_x, gap_y = 0.18, 0.16
    lines = max(str(c).count("\n") + 1 for c in captions) if any(captions) else 0
    # Shrink the caption font so the widest caption fits its column, gap included.
    widest = _text_width(captions, SMALL_FONT)
    fontsize = float(np.clip(SMALL_FONT * (cell_w + gap_x - 0.12) / max(widest, 1e-6), 5.5, SMALL_FONT))
    caption_h = lines * fontsize * 1.3 / 72 + (0.08 if lines else 0.0)
    top = 0.5 if title else 0.12
    fig_w = columns * cell_w + (columns + 1) * gap_x
    fig_h = top + rows * (cell_h + caption_h + gap_y)
    fig = new_figure(fig_w, fig_h, layout=None)
    grey = x.shape[3] == 1
    for n in range(count):
        r, c = divmod(n, columns)
        left = gap_x + c * (cell_w + gap_x)
        bottom = fig_h - top - r * (cell_h + caption_h + gap_y) - cell_h
        ax = fig.add_axes((left / fig_w, bottom / fig_h, cell_w / fig_w, cell_h / fig_h))
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("#d0d7de")
            spine.set_linewidth(0.6)
        if grey:
            ax.imshow(x[n, :, :, 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="antialiased")
        else:
            ax.imshow(x[n], interpolation="antialiased")
        if lines:
            ax.text(0.5, -0.06, str(captions[n]), transform=ax.transAxes, ha="center", va="top",
                    fontsize=fontsize, linespacing=1.2,
                    color=caption_colors[n] if caption_colors is not None else TEXT_COLOR)
    if title:
        fig.text(0.5, 1 - 0.14 / fig_h, title, ha="center", va="top", fontsize=TITLE_FONT, color=TEXT_COLOR)
    return save_figure(fig, path)
