"""Feature maps of one image at one layer, one tile per channel (Zeiler & Fergus, 2014, arXiv:1311.2901).

All tiles share one colour scale, so a bright tile is a channel that responded strongly
compared with the others, and a dark one a channel that stayed silent (after a ReLU, zero).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps

from cnnkit.viz._arrays import to_numpy
from cnnkit.viz._figure import NOTE_COLOR, SMALL_FONT, TEXT_COLOR, TITLE_FONT, new_figure, save_figure
from cnnkit.viz.grids import _mosaic

__all__ = ["plot_feature_maps"]


def plot_feature_maps(maps: Any, path: str | os.PathLike[str], *, title: str | None = None,
                      ncols: int | None = None) -> Path:
    """One image's feature maps (K, h, w) as a grid of tiles on a shared colour scale (Zeiler & Fergus, 2014).

    A signed layer (before a ReLU) is drawn blue-white-red around 0, a non-negative one dark to
    bright. Returns ``path``.
    """
    m = np.nan_to_num(to_numpy(maps).astype(np.float64))
    if m.ndim != 3 or 0 in m.shape:
        raise ValueError(f"feature maps must be a non-empty (K, h, w) array; got shape {m.shape}")
    if ncols is not None and ncols < 1:
        raise ValueError(f"ncols must be at least 1; got {ncols}")
    count, h, w = m.shape
    columns = ncols or min(count, max(4, math.ceil(math.sqrt(count))))
    columns = max(1, min(int(columns), count))
    mosaic = _mosaic(m, columns, np.nan)
    signed = bool((m < 0).any())
    peak = float(np.abs(m).max()) or 1.0
    rows = math.ceil(count / columns)
    tile = float(np.clip(8.0 / columns, 0.45, 1.2))          # inches per tile
    image_w, image_h = columns * tile, rows * tile * h / w
    left, right, top, bottom = 0.25, 1.1, 0.65, 0.25
    fig_w, fig_h = max(image_w + left + right, 4.5), image_h + top + bottom
    fig = new_figure(fig_w, fig_h, layout=None)
    ax = fig.add_axes((left / fig_w, bottom / fig_h, image_w / fig_w, image_h / fig_h))
    ax.set_axis_off()
    cmap = (colormaps["RdBu_r"] if signed else colormaps["viridis"]).with_extremes(bad="white")
    image = ax.imshow(mosaic, cmap=cmap, vmin=-peak if signed else 0.0, vmax=peak, interpolation="nearest")
    bar_h = min(image_h, 3.0)
    cax = fig.add_axes(((left + image_w + 0.2) / fig_w, (bottom + (image_h - bar_h) / 2) / fig_h,
                        0.14 / fig_w, bar_h / fig_h))
    colorbar = fig.colorbar(image, cax=cax)
    colorbar.ax.tick_params(labelsize=SMALL_FONT, colors=TEXT_COLOR)
    colorbar.outline.set_visible(False)
    fig.text(0.5, 1 - 0.16 / fig_h, title or "feature maps", ha="center", va="top", fontsize=TITLE_FONT,
             color=TEXT_COLOR)
    fig.text(0.5, 1 - 0.40 / fig_h, f"{count} channel{'s' if count != 1 else ''}, {h}x{w}, shared colour scale",
             ha="center", va="top", fontsize=SMALL_FONT, color=NOTE_COLOR)
    return save_figure(fig, path)
