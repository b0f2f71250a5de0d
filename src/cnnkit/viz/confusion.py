"""Confusion matrix of a classifier: which classes it mistakes for which.

Rows are the true class and columns the predicted class, so row ``i`` is how the test
images of class ``i`` were labelled and its diagonal cell is that class's recall.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from cnnkit.viz._arrays import to_numpy
from cnnkit.viz._figure import LABEL_FONT, SMALL_FONT, TEXT_COLOR, TITLE_FONT, new_figure, save_figure

__all__ = ["plot_confusion_matrix"]

_MAX_CELL_TEXT = 20    # classes up to which counts are printed in the cells
_MAX_CLASS_TICKS = 50  # classes up to which every class is named on the axes


def _figure_side(num_classes: int) -> float:
    """Figure width in inches: room for the cell text when it is printed, at most 11 in."""
    if num_classes <= _MAX_CELL_TEXT:
        return float(np.clip(2.6 + 0.42 * num_classes, 5.2, 11.0))
    return float(np.clip(5.0 + 0.12 * num_classes, 8.0, 11.0))


def plot_confusion_matrix(
    matrix: Any,
    classes: Sequence[str],
    path: str | os.PathLike[str],
    *,
    normalize: bool = True,
    title: str | None = None,
) -> Path:
    """Confusion matrix (lecture: evaluating a classifier): rows true class, columns predicted.

    ``matrix`` is a (K, K) array of counts (numpy or torch). With ``normalize`` the colour
    is the row-normalised rate (the share of class ``i`` predicted as ``j``), otherwise the
    count. Counts are printed in the cells for K <= 20 and every class is named for K <= 50;
    beyond that the axes carry class indices. Returns ``path``.
    """
    counts = to_numpy(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] == 0:
        raise ValueError(f"the confusion matrix must be square (K, K) with K >= 1; got shape {counts.shape}")
    num_classes = counts.shape[0]
    if len(classes) != num_classes:
        raise ValueError(f"got {len(classes)} class names for a {num_classes}x{num_classes} confusion matrix")
    counts = counts.astype(np.float64)
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError("the confusion matrix must hold non-negative finite counts")

    support = counts.sum(axis=1)
    rates = counts / np.maximum(support, 1e-12)[:, None]
    shown = rates if normalize else counts
    vmax = 1.0 if normalize else max(float(counts.max()), 1.0)
    total = float(counts.sum())
    accuracy = float(np.trace(counts)) / total if total else 0.0

    side = _figure_side(num_classes)
    fig = new_figure(side + 1.1, side, layout="compressed")
    ax = fig.subplots()
    image = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest", aspect="equal")
    colorbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    colorbar.set_label("share of the true class" if normalize else "count",
                       color=TEXT_COLOR, fontsize=LABEL_FONT)
    colorbar.ax.tick_params(labelsize=SMALL_FONT, colors=TEXT_COLOR)
    colorbar.outline.set_visible(False)
    if normalize:
        colorbar.ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")

    if num_classes <= _MAX_CLASS_TICKS:
        names = [str(c) for c in classes]
        small = num_classes > _MAX_CELL_TEXT
        ax.set_xticks(range(num_classes), names, rotation=90 if small else 45,
                      ha="center" if small else "right", rotation_mode="anchor" if not small else "default",
                      fontsize=7.5 if small else SMALL_FONT)
        ax.set_yticks(range(num_classes), names, fontsize=7.5 if small else SMALL_FONT)
    else:
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(MaxNLocator(nbins=10, integer=True))
        ax.tick_params(labelsize=SMALL_FONT)
    ax.tick_params(length=0, colors=TEXT_COLOR)
    for spine in ax.spines.values():
        spine.set_visible(False)
    index_note = " (class index)" if num_classes > _MAX_CLASS_TICKS else ""
    ax.set_xlabel("predicted class" + index_note, color=TEXT_COLOR, fontsize=LABEL_FONT)
    ax.set_ylabel("true class" + index_note, color=TEXT_COLOR, fontsize=LABEL_FONT)

    if num_classes <= _MAX_CELL_TEXT:
        fontsize = float(np.clip(130 / num_classes, 7, 11))
        integral = np.all(counts == np.round(counts))
        for i in range(num_classes):
            for j in range(num_classes):
                count = counts[i, j]
                text = f"{count:.0f}" if integral else f"{count:.3g}"
                if count == 0:
                    color = "#b6bec8"
                elif shown[i, j] > 0.55 * vmax:
                    color = "white"
                else:
                    color = TEXT_COLOR
                ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color=color)

    heading = title or ("confusion matrix, row-normalised" if normalize else "confusion matrix")
    ax.set_title(f"{heading}\naccuracy {accuracy:.2%} of {total:,.0f} images",
                 fontsize=TITLE_FONT, color=TEXT_COLOR)
    return save_figure(fig, path)
