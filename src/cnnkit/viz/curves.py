"""Learning curves of a training run: loss, accuracy and the learning-rate schedule.

The lecture reads a run from its curves: train and test loss diverging is over-fitting,
both staying high is under-fitting, and the learning rate explains the kinks (step decay,
warm-up, one-cycle; Smith & Topin, 2017, arXiv:1708.07120).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from cnnkit.viz._arrays import to_numpy
from cnnkit.viz._figure import (
    LABEL_FONT,
    LR_COLOR,
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

__all__ = ["plot_metric_curves", "plot_training_curves", "plot_lr_schedule"]

# Beyond this many points a marker per point is clutter; below it, markers keep sparse
# series (a single epoch, test metrics every k epochs) visible.
_MAX_MARKED_POINTS = 40


def _series(metrics: Sequence[Mapping[str, float | None]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """The (epoch, value) pairs of ``key``, skipping records where it is missing, None or not finite."""
    epochs, values = [], []
    for index, record in enumerate(metrics):
        value = record.get(key)
        if value is None:
            continue
        value = float(value)
        if not math.isfinite(value):
            continue
        epoch = record.get("epoch")
        epochs.append(float(index + 1 if epoch is None else epoch))
        values.append(value)
    return np.asarray(epochs), np.asarray(values)


def _plot(ax: Axes, x: np.ndarray, y: np.ndarray, *, color: str, label: str, marker: str) -> None:
    """One curve; marked point by point when it is short enough to be sparse."""
    marked = len(x) <= _MAX_MARKED_POINTS
    ax.plot(
        x,
        y,
        color=color,
        label=label,
        linewidth=1.8,
        marker=marker if marked else None,
        markersize=4,
        markeredgecolor="white",
        markeredgewidth=0.6,
    )


def _empty(ax: Axes, message: str) -> None:
    """Say in the panel that nothing was recorded, instead of drawing empty axes."""
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center",
            color=NOTE_COLOR, fontsize=SMALL_FONT)


def _finish_epoch_axis(ax: Axes) -> None:
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _annotate_best(ax: Axes, epochs: np.ndarray, accuracy: np.ndarray) -> None:
    """Mark the best test accuracy with a star on the curve and state it in the panel's corner.

    Accuracy curves rise towards the upper right, so the lower right corner is free.
    """
    best = int(np.argmax(accuracy))
    x, y = epochs[best], accuracy[best]
    ax.plot([x], [y], marker="*", markersize=13, color=TEST_COLOR, linestyle="none",
            markeredgecolor="white", markeredgewidth=0.8, zorder=5)
    ax.text(
        0.97, 0.05, f"\u2605 best test {y:.2f}% at epoch {x:g}",
        transform=ax.transAxes, ha="right", va="bottom", fontsize=SMALL_FONT, color=TEXT_COLOR,
        bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "#d0d7de", "alpha": 0.9},
        zorder=6,
    )


def _lr_formatter() -> ScalarFormatter:
    formatter = ScalarFormatter(useMathText=True)
    formatter.set_powerlimits((-3, 4))
    return formatter


def plot_training_curves(
    metrics: Sequence[Mapping[str, float | None]],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Learning curves (lecture: training and over-fitting): loss, accuracy in % and learning rate per epoch.

    Each record is one epoch of ``metrics.jsonl``: ``epoch``, ``train_loss``, ``train_acc``,
    ``test_loss``, ``test_acc`` (accuracies in [0, 1]) and ``lr``. Any key may be missing or
    None in any record (test metrics every k epochs); the epoch defaults to the record's
    1-based position. The best test accuracy is marked. Returns ``path``.
    """
    if len(metrics) == 0:
        raise ValueError("plot_training_curves needs at least one epoch record; metrics is empty")
    fig = new_figure(11.5, 3.6)
    ax_loss, ax_acc, ax_lr = fig.subplots(1, 3)

    for ax, kind in ((ax_loss, "loss"), (ax_acc, "acc")):
        style_axes(ax)
        drawn = False
        for split, color, marker in (("train", TRAIN_COLOR, "o"), ("test", TEST_COLOR, "s")):
            x, y = _series(metrics, f"{split}_{kind}")
            if len(x):
                _plot(ax, x, y * 100 if kind == "acc" else y, color=color, label=split, marker=marker)
                drawn = True
        if drawn:
            ax.legend(frameon=False, fontsize=SMALL_FONT, loc="best")
        else:
            _empty(ax, f"no {'accuracy' if kind == 'acc' else 'loss'} recorded")
        _finish_epoch_axis(ax)
    ax_loss.set_title("loss", fontsize=TITLE_FONT, color=TEXT_COLOR)
    ax_loss.set_ylabel("loss")
    ax_acc.set_title("accuracy", fontsize=TITLE_FONT, color=TEXT_COLOR)
    ax_acc.set_ylabel("accuracy (%)")
    x, y = _series(metrics, "test_acc")
    if len(x):
        _annotate_best(ax_acc, x, y * 100)

    style_axes(ax_lr)
    x, y = _series(metrics, "lr")
    if len(x):
        _plot(ax_lr, x, y, color=LR_COLOR, label="lr", marker="o")
        ax_lr.yaxis.set_major_formatter(_lr_formatter())
        ax_lr.set_ylim(bottom=0)
    else:
        _empty(ax_lr, "no learning rate recorded")
    ax_lr.set_title("learning rate (end of epoch)", fontsize=TITLE_FONT, color=TEXT_COLOR)
    ax_lr.set_ylabel("learning rate")
    _finish_epoch_axis(ax_lr)

    if title:
        fig.suptitle(title, fontsize=TITLE_FONT + 1, color=TEXT_COLOR)
    return save_figure(fig, path)


def plot_lr_schedule(
    steps: Sequence[int],
    lrs: Sequence[float],
    path: str | os.PathLike[str],
    *,
    steps_per_epoch: int | None = None,
    title: str | None = None,
) -> Path:
    """Learning rate per optimiser step (lecture: warm-up, step decay, one-cycle; Smith & Topin, 2017).

    With ``steps_per_epoch`` a second axis on top counts epochs. The peak is marked so that
    warm-up and annealing can be read off. Non-finite learning rates are skipped. Returns ``path``.
    """
    x = to_numpy(steps).astype(np.float64)
    y = to_numpy(lrs).astype(np.float64)
    if x.ndim != 1 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(
            f"steps and lrs must be two flat sequences of equal length; got {x.shape} and {y.shape}"
        )
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if len(x) == 0:
        raise ValueError("plot_lr_schedule needs at least one finite (step, lr) pair; got none")
    if steps_per_epoch is not None and steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be a positive integer; got {steps_per_epoch}")

    fig = new_figure(11.5, 3.0)
    ax = fig.subplots()
    style_axes(ax)
    marker = "o" if len(x) <= _MAX_MARKED_POINTS else None
    ax.plot(x, y, color=LR_COLOR, linewidth=1.8, marker=marker, markersize=4)
    ax.fill_between(x, 0, y, color=LR_COLOR, alpha=0.08, linewidth=0)
    ax.set_ylim(bottom=0, top=max(float(y.max()), 0.0) * 1.12 or 1.0)
    ax.yaxis.set_major_formatter(_lr_formatter())
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("learning rate")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))

    peak = int(np.argmax(y))
    ax.annotate(
        f"peak {y[peak]:.4g} at step {x[peak]:g}",
        xy=(x[peak], y[peak]),
        xytext=(6, 4),
        textcoords="offset points",
        ha="left",
        va="bottom",
        fontsize=SMALL_FONT,
        color=TEXT_COLOR,
    )
    if steps_per_epoch is not None:
        spe = float(steps_per_epoch)
        top = ax.secondary_xaxis("top", functions=(lambda s: s / spe, lambda e: e * spe))
        top.set_xlabel("epoch", color=TEXT_COLOR, fontsize=LABEL_FONT)
        top.tick_params(labelsize=SMALL_FONT, colors=TEXT_COLOR)
        top.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title or "learning rate per optimiser step", loc="left",
                 fontsize=TITLE_FONT, color=TEXT_COLOR)
    return save_figure(fig, path)


_PALETTE = (TRAIN_COLOR, TEST_COLOR, NOTE_COLOR, LR_COLOR)


def plot_metric_curves(
    metrics: Sequence[Mapping[str, float | None]],
    panels: Sequence[tuple[str, Sequence[tuple[str, str]]]],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Any task's curves per epoch: one panel per (y label, [(metrics.jsonl key, legend label), ...]).

    Super-resolution draws its loss and its train, test and bicubic PSNR this way; a key no
    record holds leaves a note in its panel. Returns ``path``."""
    if len(metrics) == 0:
        raise ValueError("plot_metric_curves needs at least one epoch record; metrics is empty")
    if not panels:
        raise ValueError("plot_metric_curves needs at least one panel")
    fig = new_figure(4.2 * len(panels) + 0.4, 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (label, series) in zip(axes, panels):
        style_axes(ax)
        drawn = False
        for i, (key, legend) in enumerate(series):
            x, y = _series(metrics, key)
            if len(x):
                _plot(ax, x, y, color=_PALETTE[i % len(_PALETTE)], label=legend, marker="os^D"[i % 4])
                drawn = True
        if drawn:
            ax.legend(frameon=False, fontsize=SMALL_FONT, loc="best")
        else:
            _empty(ax, f"no {label} recorded")
        ax.set_title(label, fontsize=TITLE_FONT, color=TEXT_COLOR)
        ax.set_ylabel(label)
        _finish_epoch_axis(ax)
    if title:
        fig.suptitle(title, fontsize=TITLE_FONT + 1, color=TEXT_COLOR)
    return save_figure(fig, path)
