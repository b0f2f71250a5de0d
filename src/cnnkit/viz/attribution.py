"""Attribution maps beside the images they explain: one row per image, one column per method.

Gradient saliency (Simonyan et al., 2013, arXiv:1312.6034), SmoothGrad (Smilkov et al., 2017,
arXiv:1706.03825), Integrated Gradients (Sundararajan et al., 2017, arXiv:1703.01365) and
Grad-CAM (Selvaraju et al., 2017, arXiv:1610.02391) are read side by side. Each map is scaled
per image: a non-negative map from 0 to its maximum, a signed one (IG) symmetrically around 0
(red raises the class score, blue lowers it); overlay columns draw the map over the image.
A colour bar under each column says what its colours mean.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from cnnkit.viz._arrays import to_numpy
from cnnkit.viz._figure import NOTE_COLOR, SMALL_FONT, TEXT_COLOR, TITLE_FONT, new_figure, save_figure
from cnnkit.viz.grids import _as_images, _text_width

__all__ = ["plot_attributions"]


def _scaled(values: np.ndarray) -> np.ndarray:
    """A map divided by its largest |value|: [0, 1] if non-negative, [-1, 1] if signed."""
    values = np.nan_to_num(values.astype(np.float64))
    peak = float(np.abs(values).max()) or 1.0
    return values / peak


def _colour_scale(signed: bool, overlay: bool) -> tuple[str, float]:
    """The colour map and lower limit of a column (the upper one is 1)."""
    if overlay:
        return "jet", -1.0 if signed else 0.0
    return ("RdBu_r", -1.0) if signed else ("magma", 0.0)


def plot_attributions(
    images: Any,
    maps: Mapping[str, Any],
    path: str | os.PathLike[str],
    *,
    captions: Sequence[str] | None = None,
    overlay: Sequence[str] = ("Grad-CAM",),
    scales: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Path:
    """Image | map | map ... per row, each map scaled per image (Simonyan et al., 2013; Selvaraju et al., 2017).

    ``images`` is (N, C, H, W) or (N, H, W) in [0, 1]; ``maps`` names each method's (N, H, W)
    map (numpy or torch); names in ``overlay`` are drawn over the greyscale image with a
    colour scale instead of on their own. A column is signed (blue below 0, red above) when
    any of its maps has a negative value. ``scales`` says under each column's colour bar what
    the value is (default: "value / image's max |value|"). ``captions`` (one per image, may
    span lines) label each row. Returns ``path``.
    """
    x = _as_images(images)                                        # (N, H, W, C)
    count, height, width = x.shape[:3]
    arrays = {name: to_numpy(m) for name, m in maps.items()}
    for name, m in arrays.items():
        if m.shape != (count, height, width):
            raise ValueError(f"map '{name}' has shape {m.shape}; expected (N, H, W) = {(count, height, width)}")
    if captions is not None and len(captions) != count:
        raise ValueError(f"got {len(captions)} captions for {count} images")
    columns = 1 + len(arrays)
    cell = 1.35
    gap = 0.12
    label_w = (_text_width([str(c) for c in captions], SMALL_FONT - 1) + 0.25) if captions is not None else 0.1
    top = 0.75 if title else 0.4
    signed = {name: bool((np.nan_to_num(m) < 0).any()) for name, m in arrays.items()}
    notes = {name: (scales or {}).get(name) or ("value / image's max |value|" if signed[name] else
                                                "value / image's max") for name in arrays}
    note_lines = max((n.count("\n") + 1 for n in notes.values()), default=0)
    bar_h = 0.5 + 0.14 * note_lines                               # colour bar, its ticks and its note
    fig_w = label_w + columns * (cell + gap) + 0.1
    fig_h = top + count * (cell + gap) + bar_h
    fig = new_figure(fig_w, fig_h, layout=None)
    headers = ["image", *arrays]
    grey = x.mean(axis=3)                                         # (N, H, W) for overlays
    for row in range(count):
        bottom = fig_h - top - row * (cell + gap) - cell
        for col in range(columns):
            left = label_w + col * (cell + gap)
            ax = fig.add_axes((left / fig_w, bottom / fig_h, cell / fig_w, cell / fig_h))
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_color("#d0d7de")
                spine.set_linewidth(0.6)
            if col == 0:
                if x.shape[3] == 1:
                    ax.imshow(x[row, :, :, 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
                else:
                    ax.imshow(x[row], interpolation="nearest")
            else:
                name = headers[col]
                values = _scaled(arrays[name][row])
                cmap, low = _colour_scale(signed[name], name in overlay)
                if name in overlay:
                    ax.imshow(grey[row], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
                    if np.abs(values).max() > 0:
                        ax.imshow(values, cmap=cmap, vmin=low, vmax=1.0, alpha=0.5, interpolation="bilinear")
                    else:  # e.g. Grad-CAM's ReLU removed every channel: say so instead of a flat tint
                        ax.text(0.5, 0.06, "map is zero", transform=ax.transAxes, ha="center", va="bottom",
                                fontsize=SMALL_FONT - 1.5, color="white",
                                bbox={"facecolor": "black", "alpha": 0.6, "edgecolor": "none", "pad": 1.5})
                else:
                    ax.imshow(values, cmap=colormaps[cmap], vmin=low, vmax=1.0, interpolation="nearest")
            if row == 0:
                ax.set_title(headers[col], fontsize=SMALL_FONT, color=TEXT_COLOR, pad=4)
        if captions is not None:
            fig.text((label_w - 0.1) / fig_w, (bottom + cell / 2) / fig_h, str(captions[row]), ha="right",
                     va="center", fontsize=SMALL_FONT - 1, color=TEXT_COLOR, linespacing=1.2)
    for col, name in enumerate(arrays, start=1):  # one colour bar per column, under its last map
        left = label_w + col * (cell + gap) + 0.08
        cmap, low = _colour_scale(signed[name], name in overlay)
        cax = fig.add_axes((left / fig_w, (bar_h - 0.2) / fig_h, (cell - 0.16) / fig_w, 0.08 / fig_h))
        bar = fig.colorbar(ScalarMappable(Normalize(low, 1.0), colormaps[cmap]), cax=cax, orientation="horizontal",
                           alpha=0.5 if name in overlay else None)
        bar.set_ticks([low, 0.0, 1.0] if low < 0 else [0.0, 0.5, 1.0],
                      labels=["-1", "0", "1"] if low < 0 else ["0", "0.5", "1"])
        bar.ax.tick_params(labelsize=SMALL_FONT - 2, length=2, pad=1, colors=TEXT_COLOR)
        bar.outline.set_linewidth(0.4)
        fig.text((left + (cell - 0.16) / 2) / fig_w, (bar_h - 0.4) / fig_h, notes[name], ha="center", va="top",
                 fontsize=SMALL_FONT - 2, color=NOTE_COLOR, linespacing=1.15)
    if title:
        fig.text(0.5, 1 - 0.12 / fig_h, title, ha="center", va="top", fontsize=TITLE_FONT, color=TEXT_COLOR)
    return save_figure(fig, path)
