"""The shift-invariance figure (Azulay & Weiss 2019; Zhang 2019): probability and accuracy against translation.

Left, the true class's probability of a few images as they move horizontally one pixel at a
time (a shift-invariant network would draw flat lines); middle, accuracy against the
horizontal shift for each model and border mode; right, the share of images whose prediction
at (dy, dx) equals the unshifted one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from cnnkit.viz._arrays import to_numpy
from cnnkit.viz._figure import NOTE_COLOR, SMALL_FONT, TITLE_FONT, new_figure, save_figure, style_axes

__all__ = ["plot_shift"]

_COLOURS = ("#2f6fd0", "#e07a10", "#1f9d8a", "#c0392b", "#8e44ad", "#7f8c8d")


def plot_shift(shifts: Sequence[int], examples: Any, accuracy: Mapping[str, Any], agreement: Any,
               path: str | os.PathLike[str], *, example_title: str, agreement_title: str) -> Path:
    """Write the figure: ``examples`` (k, S) true-class probabilities along dx, ``accuracy`` label -> (S,) along dx,
    ``agreement`` (S, S) over (dy, dx)."""
    offsets = np.asarray(list(shifts))
    curves = to_numpy(examples)
    grid = to_numpy(agreement)
    if curves.ndim != 2 or curves.shape[1] != len(offsets) or grid.shape != (len(offsets), len(offsets)):
        raise ValueError(f"examples must be (k, {len(offsets)}) and agreement ({len(offsets)}, {len(offsets)}); "
                         f"got {curves.shape} and {grid.shape}")
    fig = new_figure(12.5, 3.8)
    left, middle, right = fig.subplots(1, 3, width_ratios=(1.15, 1.15, 0.9))

    for k, curve in enumerate(curves):
        left.plot(offsets, curve, marker="o", markersize=3, linewidth=1.2, color=_COLOURS[k % len(_COLOURS)], alpha=0.85)
    left.plot(offsets, curves.mean(0), color="black", linewidth=2.2, label="mean of these")
    left.set_ylim(-0.03, 1.03)
    left.set_xlabel("horizontal shift dx (pixels)")
    left.set_ylabel("probability of the true class")
    left.set_title(example_title, fontsize=TITLE_FONT)
    left.legend(fontsize=SMALL_FONT, framealpha=0.85, loc="best")
    style_axes(left)

    for k, (label, values) in enumerate(accuracy.items()):
        style = "--" if "zero" in label else "-"
        middle.plot(offsets, to_numpy(values), style, marker="o", markersize=3, linewidth=1.6,
                    color=_COLOURS[(k // 2) % len(_COLOURS)], label=label)
    middle.set_xlabel("horizontal shift dx (pixels)")
    middle.set_ylabel("test accuracy")
    middle.set_title("accuracy against shift (dy = 0)", fontsize=TITLE_FONT)
    middle.legend(fontsize=SMALL_FONT - 1, framealpha=0.85, loc="best")
    style_axes(middle)
    for ax in (left, middle):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))

    extent = (offsets[0] - 0.5, offsets[-1] + 0.5, offsets[-1] + 0.5, offsets[0] - 0.5)
    image = right.imshow(grid, cmap="viridis", vmin=min(0.5, float(grid.min())), vmax=1.0, extent=extent)
    right.set_xlabel("dx (pixels)")
    right.set_ylabel("dy (pixels)")
    right.set_title(agreement_title, fontsize=TITLE_FONT)
    colourbar = fig.colorbar(image, ax=right, shrink=0.85)
    colourbar.ax.tick_params(labelsize=SMALL_FONT, colors=NOTE_COLOR)
    return save_figure(fig, path)
