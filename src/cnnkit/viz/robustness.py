"""Figures of adversarial robustness: accuracy against eps, and clean / perturbation /
adversarial images side by side.

The accuracy-vs-eps curve is how Kurakin et al. (2017, arXiv:1607.02533, Figure 2) compare
attacks and Madry et al. (2018, arXiv:1706.06083) compare a standard network with an
adversarially trained one. The image grid follows Goodfellow et al. (2015, arXiv:1412.6572,
Figure 1): the clean image, the perturbation amplified around mid-grey, and their sum.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnkit.viz._arrays import to_numpy
from cnnkit.viz._figure import (
    NOTE_COLOR,
    SMALL_FONT,
    TEXT_COLOR,
    TITLE_FONT,
    new_figure,
    save_figure,
    style_axes,
)
from cnnkit.viz.grids import _as_images

__all__ = ["plot_adversarial_grid", "plot_destruction_rates", "plot_robustness_comparison", "plot_robustness_curves"]

_COLORS = ("#2f6fd0", "#e07a10", "#1f9d8a", "#c0392b", "#8e44ad", "#7f8c8d", "#b7950b", "#d35400", "#16a085")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h")
_STYLES = ("-", "--", ":", "-.")
_WRONG_COLOR = "#c0392b"


def _check_curve(name: str, eps: np.ndarray, accuracy: np.ndarray) -> None:
    if eps.ndim != 1 or accuracy.shape != eps.shape:
        raise ValueError(f"curve {name!r}: need one accuracy per eps ({eps.shape[0]} values), got shape {accuracy.shape}")


def _draw(runs: Mapping[str, tuple[Any, Mapping[str, Any]]], path: str | os.PathLike[str], *, title: str | None,
          xlabel: str, clean_accuracy: float | None) -> Path:
    if not runs or not any(curves for _, curves in runs.values()):
        raise ValueError("give at least one curve to plot")
    names = list(dict.fromkeys(name for _, curves in runs.values() for name in curves))
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    style_axes(ax)
    several = len(runs) > 1
    for r, (run, (eps, curves)) in enumerate(runs.items()):
        eps = to_numpy(eps).astype(np.float64)
        for name, accuracy in curves.items():
            accuracy = to_numpy(accuracy).astype(np.float64)
            _check_curve(name, eps, accuracy)
            k = names.index(name)
            label = f"{run}: {name}" if several else name
            ax.plot(eps, 100 * accuracy, color=_COLORS[k % len(_COLORS)], marker=_MARKERS[k % len(_MARKERS)],
                    linestyle=_STYLES[r % len(_STYLES)], linewidth=1.6, markersize=4.5, label=label)
    if clean_accuracy is not None:
        ax.axhline(100 * clean_accuracy, color=NOTE_COLOR, linewidth=1.0, linestyle=(0, (2, 2)),
                   label=f"clean {100 * clean_accuracy:.1f}%")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.legend(fontsize=SMALL_FONT, frameon=False, loc="best")
    ax.set_title(title or "accuracy under attack", fontsize=TITLE_FONT, color=TEXT_COLOR)
    return save_figure(fig, path)


def plot_robustness_curves(eps: Any, accuracy: Mapping[str, Any], path: str | os.PathLike[str], *,
                           title: str | None = None, clean_accuracy: float | None = None,
                           xlabel: str = "eps (L-inf, pixels in [0, 1])") -> Path:
    """Accuracy vs eps of several attacks (Kurakin et al., 2017, Figure 2); accuracies in [0, 1]."""
    return _draw({"": (eps, accuracy)}, path, title=title, xlabel=xlabel, clean_accuracy=clean_accuracy)


def plot_robustness_comparison(runs: Mapping[str, tuple[Any, Mapping[str, Any]]], path: str | os.PathLike[str], *,
                               title: str | None = None, xlabel: str = "eps (L-inf, pixels in [0, 1])") -> Path:
    """Accuracy vs eps of several runs (e.g. standard vs adversarially trained, Madry et al., 2018).

    ``runs`` maps a run's name to (eps, {attack: accuracies}); colour marks the attack, line style the run.
    """
    return _draw(runs, path, title=title or "accuracy under attack, by model", xlabel=xlabel, clean_accuracy=None)


def plot_adversarial_grid(clean: Any, adversarial: Any, path: str | os.PathLike[str], *, true_labels: Sequence[str],
                          clean_labels: Sequence[str], adv_labels: Sequence[str], amplification: float | None = None,
                          title: str | None = None) -> Path:
    """Clean image, perturbation (amplified around grey) and adversarial image per column (Goodfellow et al., 2015).

    ``clean`` and ``adversarial`` are (N, C, H, W) in [0, 1]. The perturbation row shows
    0.5 + amplification * (adversarial - clean); ``amplification`` defaults to the factor that
    maps the largest |perturbation| to 0.5, and the figure states it. Predictions that differ
    from the true label are drawn in red.
    """
    x, x_adv = _as_images(clean), _as_images(adversarial)      # (N, H, W, C)
    if x.shape != x_adv.shape:
        raise ValueError(f"clean and adversarial images differ in shape: {x.shape} vs {x_adv.shape}")
    count = x.shape[0]
    if not (len(true_labels) == len(clean_labels) == len(adv_labels) == count):
        raise ValueError(f"need one true, clean and adversarial label per image ({count})")
    delta = x_adv - x
    largest = float(np.abs(delta).max()) if count else 0.0
    if amplification is None:
        amplification = 0.5 / largest if largest > 0 else 1.0
    if not amplification > 0:
        raise ValueError(f"amplification must be > 0, got {amplification}")
    shown = np.clip(0.5 + amplification * delta, 0.0, 1.0)
    height, width = x.shape[1:3]
    cell = 1.25
    gap_x, gap_y, label_w, caption_h = 0.14, 0.1, 1.05, 0.42
    columns = max(count, 1)
    fig_w = label_w + columns * (cell + gap_x) + gap_x
    # A figure of one or two images is narrow: the title and the note wrap to its width.
    heading = _wrap(title or "adversarial examples", fig_w - 0.2, TITLE_FONT)
    note = _wrap(f"perturbation shown as 0.5 + {amplification:.3g} x (adversarial - clean); "
                 "red: prediction differs from the true label", fig_w - 0.2, SMALL_FONT - 1)
    heading_h = (heading.count("\n") + 1) * TITLE_FONT * 1.25 / 72
    top = 0.12 + heading_h + (note.count("\n") + 1) * (SMALL_FONT - 1) * 1.25 / 72 + 0.2
    row_h = cell * height / width
    fig_h = top + 3 * (row_h + caption_h + gap_y)
    fig = new_figure(fig_w, fig_h, layout=None)
    rows = (("clean", x), (f"perturbation\nx{amplification:.3g}", shown), ("adversarial", x_adv))
    for r, (row_name, images) in enumerate(rows):
        bottom = fig_h - top - r * (row_h + caption_h + gap_y) - row_h
        fig.text(0.1 / fig_w, (bottom + row_h / 2) / fig_h, row_name, ha="left", va="center",
                 fontsize=SMALL_FONT, color=TEXT_COLOR)
        for n in range(count):
            left = label_w + gap_x + n * (cell + gap_x)
            ax = fig.add_axes((left / fig_w, bottom / fig_h, cell / fig_w, row_h / fig_h))
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_color("#d0d7de")
                spine.set_linewidth(0.6)
            image = images[n]
            if image.shape[2] == 1:
                ax.imshow(image[:, :, 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            else:
                ax.imshow(image, interpolation="nearest")
            if r == 0:
                caption, wrong = f"true: {true_labels[n]}\npred: {clean_labels[n]}", clean_labels[n] != true_labels[n]
            elif r == 2:
                caption, wrong = f"pred: {adv_labels[n]}", adv_labels[n] != true_labels[n]
            else:
                caption, wrong = f"|max| {np.abs(delta[n]).max():.3f}", False
            ax.text(0.5, -0.05, caption, transform=ax.transAxes, ha="center", va="top", fontsize=SMALL_FONT - 1.5,
                    linespacing=1.15, color=_WRONG_COLOR if wrong else TEXT_COLOR)
    fig.text(0.5, 1 - 0.12 / fig_h, heading, ha="center", va="top", fontsize=TITLE_FONT, color=TEXT_COLOR,
             linespacing=1.1)
    fig.text(0.5, 1 - (0.16 + heading_h) / fig_h, note, ha="center", va="top", fontsize=SMALL_FONT - 1,
             color=NOTE_COLOR, linespacing=1.1)
    return save_figure(fig, path)


def _wrap(text: str, inches: float, fontsize: float) -> str:
    """``text`` broken at spaces into lines of at most ``inches`` (0.6 em a character, a safe average)."""
    return textwrap.fill(text, width=max(12, int(inches * 72 / (0.6 * fontsize))), break_long_words=False)


def plot_destruction_rates(transforms: Sequence[str], rates: Mapping[str, Any], path: str | os.PathLike[str], *,
                           title: str | None = None) -> Path:
    """Destruction rate per transformation, one bar per attack (Kurakin et al., 2017, Figure 6).

    ``rates`` maps an attack's name to one rate in [0, 1] per transformation (NaN, no image qualified: no bar).
    """
    names = list(rates)
    if not names or not transforms:
        raise ValueError("give at least one attack and one transformation")
    values = np.array([to_numpy(rates[n]).astype(np.float64) for n in names])  # (A, T)
    if values.shape != (len(names), len(transforms)):
        raise ValueError(f"need one rate per transformation ({len(transforms)}) for each attack, got {values.shape}")
    fig = new_figure(6.4, 1.2 + 0.22 * len(transforms) * max(1, len(names)) ** 0.5)
    ax = fig.add_subplot()
    style_axes(ax)
    ax.grid(True, axis="x")
    ax.grid(False, axis="y")
    height = 0.8 / len(names)
    rows = np.arange(len(transforms))
    for a, name in enumerate(names):
        ax.barh(rows - 0.4 + (a + 0.5) * height, 100 * np.nan_to_num(values[a]), height=height,
                color=_COLORS[a % len(_COLORS)], label=name)
    ax.set_yticks(rows, labels=list(transforms))
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("destruction rate (%)")
    # Below the axes: bars reach any length, so no corner inside is safe.
    fig.legend(fontsize=SMALL_FONT, frameon=False, loc="outside lower center", ncol=min(3, len(names)))
    ax.set_title(title or "adversarial images destroyed by each transformation", fontsize=TITLE_FONT,
                 color=TEXT_COLOR)
    return save_figure(fig, path)
