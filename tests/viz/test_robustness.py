"""Robustness figures: accuracy-vs-eps curves (one model or several) and the clean / perturbation /
adversarial grid, read back from the PNG."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cnnkit.viz.robustness import (
    plot_adversarial_grid,
    plot_destruction_rates,
    plot_robustness_comparison,
    plot_robustness_curves,
)


def _has_colour(pixels: np.ndarray, hex_colour: str, tolerance: int = 12) -> bool:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return bool((np.abs(pixels - rgb).max(axis=2) <= tolerance).sum() > 20)


def test_curves_draw_each_attack_in_its_colour(tmp_path, read_png):
    eps = [0.0, 0.05, 0.1, 0.2]
    path = plot_robustness_curves(eps, {"FGSM": [0.9, 0.4, 0.2, 0.05], "PGD": [0.9, 0.2, 0.01, 0.0]},
                                  tmp_path / "curves.png", clean_accuracy=0.9)
    pixels = read_png(path)
    assert _has_colour(pixels, "#2f6fd0") and _has_colour(pixels, "#e07a10")
    assert not _has_colour(pixels, "#1f9d8a")  # no third curve


def test_comparison_of_runs_and_bad_curves(tmp_path, read_png):
    runs = {"standard": ([0, 0.1], {"PGD": [0.9, 0.05]}), "adv. trained": ([0, 0.1], {"PGD": [0.85, 0.6]})}
    read_png(plot_robustness_comparison(runs, tmp_path / "compare.png"))
    with pytest.raises(ValueError, match="one accuracy per eps"):
        plot_robustness_curves([0, 0.1], {"FGSM": [0.9]}, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="at least one curve"):
        plot_robustness_curves([0, 0.1], {}, tmp_path / "none.png")
    assert not (tmp_path / "bad.png").exists()


def test_adversarial_grid_centres_the_perturbation_at_grey(tmp_path, read_png):
    rng = np.random.default_rng(0)
    clean = rng.uniform(0.2, 0.8, size=(3, 1, 8, 8))
    adversarial = clean + 0.05 * np.sign(rng.standard_normal(clean.shape))
    labels = ["cat", "dog", "cat"]
    path = plot_adversarial_grid(clean, adversarial, tmp_path / "grid.png", true_labels=labels,
                                 clean_labels=labels, adv_labels=["dog", "dog", "cat"])
    pixels = read_png(path)
    # -eps amplified by 0.5 / 0.05 = 10 shows as pure black (the images themselves stay in [0.15, 0.85],
    # the page is white, text is #24292f); a wrong prediction is red.
    assert _has_colour(pixels, "#000000", 2)
    assert _has_colour(pixels, "#c0392b", 40)
    with pytest.raises(ValueError, match="one true, clean and adversarial label"):
        plot_adversarial_grid(clean, adversarial, tmp_path / "x.png", true_labels=labels[:2],
                              clean_labels=labels, adv_labels=labels)
    with pytest.raises(ValueError, match="differ in shape"):
        plot_adversarial_grid(clean, adversarial[:2], tmp_path / "x.png", true_labels=labels,
                              clean_labels=labels, adv_labels=labels)


def test_robustness_plots_import_no_torch(tmp_path):
    code = ("import sys, cnnkit.viz.robustness as r; assert 'torch' not in sys.modules; "
            f"r.plot_robustness_curves([0, 1], {{'a': [1, 0]}}, {str(tmp_path / 'c.png')!r})")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_destruction_bars(tmp_path, read_png):
    path = plot_destruction_rates(["jpeg q=75", "blur sigma=1"], {"FGSM": [0.1, float("nan")], "LL": [0.6, 0.7]},
                                  tmp_path / "bars.png")
    pixels = read_png(path)
    assert _has_colour(pixels, "#2f6fd0") and _has_colour(pixels, "#e07a10")
    with pytest.raises(ValueError, match="one rate per transformation"):
        plot_destruction_rates(["jpeg q=75"], {"FGSM": [0.1, 0.2]}, tmp_path / "bad.png")


def test_a_narrow_grid_wraps_its_title_and_note_inside_the_figure(tmp_path, monkeypatch):
    import cnnkit.viz.robustness as robustness

    widths = []
    save = robustness.save_figure

    def inspect(fig, path):  # every text's drawn extent against the figure's, before saving clears it
        renderer = fig.canvas.get_renderer()
        widths.extend((t.get_window_extent(renderer).x0, t.get_window_extent(renderer).x1, fig.bbox.width)
                      for t in fig.texts)
        return save(fig, path)

    monkeypatch.setattr(robustness, "save_figure", inspect)
    x = np.random.default_rng(0).random((1, 1, 8, 8))
    robustness.plot_adversarial_grid(x, np.clip(x + 0.03, 0, 1), tmp_path / "one.png", true_labels=["7"],
                                     clean_labels=["7"], adv_labels=["1"],
                                     title="FGSM, L∞ ε = 8/255 (0.0314), 10 steps")
    assert widths and all(0 <= x0 and x1 <= width for x0, x1, width in widths)
