"""Tests for cnnkit.viz.curves: learning curves and the learning-rate schedule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnkit.viz import plot_lr_schedule, plot_training_curves

TEST_RGB = (0xE0, 0x7A, 0x10)   # the orange the test split is drawn in
LR_RGB = (0x1F, 0x9D, 0x8A)     # the teal of the learning-rate curve


def _count_color(pixels: np.ndarray, rgb: tuple[int, int, int], tol: int = 30) -> int:
    return int((np.abs(pixels - np.array(rgb)).max(axis=-1) <= tol).sum())


def _metrics(epochs: int, *, test_every: int = 1) -> list[dict]:
    records = []
    for e in range(1, epochs + 1):
        record = {
            "epoch": e,
            "train_loss": 1.0 / e,
            "train_acc": 1 - 0.5 / e,
            "lr": 0.1 * (1 - e / (epochs + 1)),
            "seconds": 2.0,
            "images_per_s": 1000.0,
        }
        if e % test_every == 0:
            record.update(test_loss=1.2 / e, test_acc=1 - 0.6 / e)
        records.append(record)
    return records


def test_full_run_renders_a_wide_three_panel_png(tmp_path, read_png):
    path = plot_training_curves(_metrics(8), tmp_path / "curves.png", title="demo")
    assert path == tmp_path / "curves.png"
    pixels = read_png(path)
    height, width, _ = pixels.shape
    assert width >= 1000 and width > 2.5 * height        # three panels side by side
    assert _count_color(pixels, TEST_RGB) > 200           # the test curve is drawn
    assert _count_color(pixels, LR_RGB) > 200             # so is the learning rate


def test_missing_test_metrics_are_skipped(tmp_path, read_png):
    metrics = _metrics(6, test_every=3)
    metrics[1]["train_loss"] = None                       # None, not just absent
    metrics[2]["train_loss"] = math.nan                   # a diverged value is not plotted
    pixels = read_png(plot_training_curves(metrics, tmp_path / "curves.png"))
    assert _count_color(pixels, TEST_RGB) > 50


def test_no_test_metrics_draws_no_test_curve(tmp_path, read_png):
    metrics = [{k: v for k, v in r.items() if not k.startswith("test_")} for r in _metrics(5)]
    pixels = read_png(plot_training_curves(metrics, tmp_path / "curves.png"))
    assert _count_color(pixels, TEST_RGB, tol=20) == 0


def test_a_single_epoch_is_visible(tmp_path, read_png):
    """One point makes no line: the markers must still show it."""
    pixels = read_png(plot_training_curves(_metrics(1), tmp_path / "curves.png"))
    assert _count_color(pixels, TEST_RGB) > 20
    assert _count_color(pixels, LR_RGB) > 20


def test_records_without_epoch_numbers_use_their_position(tmp_path, read_png):
    metrics = [{"train_loss": 1.0 / (i + 1)} for i in range(3)]
    read_png(plot_training_curves(metrics, tmp_path / "curves.png"))


def test_empty_metrics_raise_and_write_nothing(tmp_path, assert_no_file):
    with pytest.raises(ValueError, match="at least one epoch"):
        plot_training_curves([], tmp_path / "curves.png")
    assert_no_file(tmp_path / "curves.png")


def test_lr_schedule_peak_is_where_warm_up_ends(tmp_path, read_png, find_runs):
    steps = np.arange(1000)
    warm = 250
    lrs = np.where(steps < warm, steps / warm, 1 - (steps - warm) / (1000 - warm)) * 0.4
    pixels = read_png(plot_lr_schedule(steps, lrs, tmp_path / "lr.png", steps_per_epoch=100))
    line = np.abs(pixels - np.array(LR_RGB)).max(axis=-1) <= 30   # (H, W)
    columns = np.flatnonzero(line.any(axis=0))
    first, last = columns.min(), columns.max()
    top_row = np.flatnonzero(line.any(axis=1)).min()
    peak_x = np.flatnonzero(line[top_row]).mean()
    assert (peak_x - first) / (last - first) == pytest.approx(warm / 999, abs=0.03)
    # the curve starts at lr 0 (bottom) and ends at 0 again: both ends lie low
    rows_first = np.flatnonzero(line[:, first])
    assert rows_first.min() > top_row + 100


def test_lr_schedule_rejects_mismatched_lengths(tmp_path, assert_no_file):
    with pytest.raises(ValueError, match="equal length"):
        plot_lr_schedule([0, 1, 2], [0.1, 0.2], tmp_path / "lr.png")
    with pytest.raises(ValueError, match="steps_per_epoch"):
        plot_lr_schedule([0, 1], [0.1, 0.2], tmp_path / "lr.png", steps_per_epoch=0)
    assert_no_file(tmp_path / "lr.png")


def test_lr_schedule_single_step(tmp_path, read_png):
    pixels = read_png(plot_lr_schedule([0], [0.05], tmp_path / "lr.png"))
    assert _count_color(pixels, LR_RGB) > 10


def test_lr_schedule_skips_non_finite_values(tmp_path, read_png, assert_no_file):
    read_png(plot_lr_schedule([0, 1, 2], [0.1, math.nan, 0.05], tmp_path / "lr.png"))
    with pytest.raises(ValueError, match="finite"):
        plot_lr_schedule([0, 1], [math.nan, math.inf], tmp_path / "none.png")
    assert_no_file(tmp_path / "none.png")
