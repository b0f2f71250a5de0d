"""Figures of a loss landscape (Li et al., 2018, "Visualizing the Loss Landscape of Neural Nets",
arXiv:1712.09913): a 1D line of loss and accuracy, 2D contours and a 3D surface.

The grids come from ``cnnkit.explain.landscape`` (or its JSON): ``loss[i]`` at ``alphas[i]``
for a line, ``loss[i, j]`` at ``(alphas[i], betas[j])`` for a surface. The trained weights sit
at the origin. Contour levels are spaced evenly in log(loss), as in the paper's figures, so
the flat basin around a minimum and the steep walls far from it are both resolved.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm

from cnnkit.viz._arrays import to_numpy
from cnnkit.viz._figure import (
    NOTE_COLOR,
    SMALL_FONT,
    TEST_COLOR,
    TEXT_COLOR,
    TITLE_FONT,
    TRAIN_COLOR,
    new_figure,
    save_figure,
    style_axes,
)

__all__ = ["plot_loss_contour", "plot_loss_line", "plot_loss_surface_3d"]

_STAR = {"marker": "*", "markersize": 14, "color": TEST_COLOR, "markeredgecolor": "white",
         "markeredgewidth": 0.8, "linestyle": "none", "zorder": 6}


def _line(alphas: Any, values: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    a, v = to_numpy(alphas).astype(np.float64), to_numpy(values).astype(np.float64)
    if a.ndim != 1 or v.shape != a.shape or len(a) < 2:
        raise ValueError(f"alphas and {name} must be two flat sequences of equal length >= 2; got {a.shape} and {v.shape}")
    return a, v


def _grid(alphas: Any, betas: Any, values: Any, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = to_numpy(alphas).astype(np.float64), to_numpy(betas).astype(np.float64)
    v = to_numpy(values).astype(np.float64)
    if a.ndim != 1 or b.ndim != 1 or v.shape != (len(a), len(b)) or min(len(a), len(b)) < 2:
        raise ValueError(f"{name} must be (len(alphas), len(betas)) with both axes >= 2 points; "
                         f"got {v.shape} for axes of {a.shape} and {b.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"{name} holds non-finite values; a grid point diverged (try a smaller span)")
    return a, b, v


def plot_loss_line(alphas: Any, loss: Any, accuracy: Any, path: str | os.PathLike[str], *,
                   title: str | None = None) -> Path:
    """1D loss landscape (Li et al., 2018): loss (left axis) and accuracy in % (right axis) against alpha."""
    a, v = _line(alphas, loss, "loss")
    _, acc = _line(alphas, accuracy, "accuracy")
    fig = new_figure(6.4, 3.8)
    ax = fig.subplots()
    style_axes(ax)
    ax.plot(a, v, color=TRAIN_COLOR, linewidth=1.8, label="loss")
    ax.set_xlabel("alpha (filter-normalised direction)")
    ax.set_ylabel("loss (cross-entropy)", color=TRAIN_COLOR)
    twin = ax.twinx()
    twin.plot(a, acc * 100, color=TEST_COLOR, linewidth=1.8, linestyle="--", label="accuracy")
    twin.set_ylabel("accuracy (%)", color=TEST_COLOR)
    twin.set_ylim(0, 100)
    twin.tick_params(colors=TEXT_COLOR, labelsize=SMALL_FONT, length=3)
    for side in ("top", "left"):
        twin.spines[side].set_visible(False)
    if a.min() <= 0 <= a.max():
        ax.axvline(0, color=NOTE_COLOR, linewidth=0.8, linestyle=":")
        centre = int(np.argmin(np.abs(a)))
        ax.plot([a[centre]], [v[centre]], **_STAR)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    fig.legend(handles, [h.get_label() for h in handles], frameon=False, fontsize=SMALL_FONT,
               loc="outside lower center", ncol=2)
    ax.set_title(title or "loss along a random direction", fontsize=TITLE_FONT, color=TEXT_COLOR)
    return save_figure(fig, path)


def _log_levels(values: np.ndarray, count: int) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    low = max(low, high * 1e-6, 1e-12)
    if high <= low:
        high = low * 1.01
    return np.geomspace(low, high, count)


def _mark_origin(ax: Axes, a: np.ndarray, b: np.ndarray) -> None:
    if a.min() <= 0 <= a.max() and b.min() <= 0 <= b.max():
        ax.plot([0], [0], **_STAR)


def plot_loss_contour(alphas: Any, betas: Any, loss: Any, path: str | os.PathLike[str], *,
                      accuracy: Any = None, levels: int = 24, title: str | None = None) -> Path:
    """2D loss landscape (Li et al., 2018): contours of the loss at log-spaced levels, trained point starred.

    With ``accuracy`` a second panel shows its contours (linear levels, in %).
    """
    a, b, v = _grid(alphas, betas, loss, "loss")
    panels = 1 if accuracy is None else 2
    fig = new_figure(5.2 * panels + 0.6, 4.6)
    axes = np.atleast_1d(fig.subplots(1, panels))
    ax = axes[0]
    style_axes(ax)
    ax.grid(False)
    x, y = np.meshgrid(a, b)  # (len(b), len(a)): rows are beta
    norm = LogNorm(vmin=max(float(v.min()), 1e-12), vmax=float(v.max()) if v.max() > v.min() else float(v.min()) * 1.01)
    lines = ax.contour(x, y, v.T, levels=_log_levels(v, levels), cmap=colormaps["viridis"], norm=norm, linewidths=1.1)
    ax.clabel(lines, lines.levels[::4], fontsize=SMALL_FONT - 1.5, fmt=lambda value: f"{value:.2g}")
    colorbar = fig.colorbar(lines, ax=ax, fraction=0.046, pad=0.03)
    colorbar.set_label("loss (log scale)", fontsize=SMALL_FONT, color=TEXT_COLOR)
    colorbar.set_ticks(lines.levels[::4], labels=[f"{value:.3g}" for value in lines.levels[::4]])
    colorbar.ax.minorticks_off()
    colorbar.ax.tick_params(labelsize=SMALL_FONT, colors=TEXT_COLOR)
    colorbar.outline.set_visible(False)
    ax.set_aspect("equal")
    ax.set_xlabel("alpha (direction 1)")
    ax.set_ylabel("beta (direction 2)")
    ax.set_title("loss (\u2605 trained weights)", fontsize=TITLE_FONT, color=TEXT_COLOR)
    _mark_origin(ax, a, b)
    if accuracy is not None:
        _, _, acc = _grid(alphas, betas, accuracy, "accuracy")
        ax2 = axes[1]
        style_axes(ax2)
        ax2.grid(False)
        filled = ax2.contourf(x, y, acc.T * 100, levels=np.linspace(0, 100, 11), cmap=colormaps["magma"])
        colorbar = fig.colorbar(filled, ax=ax2, fraction=0.046, pad=0.03)
        colorbar.set_label("accuracy (%)", fontsize=SMALL_FONT, color=TEXT_COLOR)
        colorbar.ax.tick_params(labelsize=SMALL_FONT, colors=TEXT_COLOR)
        colorbar.outline.set_visible(False)
        ax2.set_aspect("equal")
        ax2.set_xlabel("alpha (direction 1)")
        ax2.set_ylabel("beta (direction 2)")
        ax2.set_title("accuracy in % (\u2605 trained weights)", fontsize=TITLE_FONT, color=TEXT_COLOR)
        _mark_origin(ax2, a, b)
    if title:
        fig.suptitle(title, fontsize=TITLE_FONT + 1, color=TEXT_COLOR)
    return save_figure(fig, path)


def plot_loss_surface_3d(alphas: Any, betas: Any, loss: Any, path: str | os.PathLike[str], *,
                         title: str | None = None) -> Path:
    """2D loss landscape drawn as a 3D surface (Li et al., 2018), log10(loss) on the vertical axis."""
    a, b, v = _grid(alphas, betas, loss, "loss")
    fig = new_figure(6.4, 5.0)
    ax = fig.add_subplot(projection="3d")
    x, y = np.meshgrid(a, b)
    height = np.log10(np.maximum(v.T, 1e-12))
    ax.plot_surface(x, y, height, cmap=colormaps["viridis"], linewidth=0, antialiased=True, rcount=len(b),
                    ccount=len(a))
    ax.set_xlabel("alpha", fontsize=SMALL_FONT, color=TEXT_COLOR)
    ax.set_ylabel("beta", fontsize=SMALL_FONT, color=TEXT_COLOR)
    ax.set_zlabel("log10 loss", fontsize=SMALL_FONT, color=TEXT_COLOR)
    ax.tick_params(labelsize=SMALL_FONT - 1, colors=TEXT_COLOR)
    ax.view_init(elev=32, azim=-60)
    ax.set_title(title or "loss surface", fontsize=TITLE_FONT, color=TEXT_COLOR)
    return save_figure(fig, path)
