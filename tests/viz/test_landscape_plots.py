"""Loss-landscape figures (Li et al., 2018): line, log-level contours and 3D surface from plain arrays."""

from __future__ import annotations

import numpy as np
import pytest

from cnnkit.viz.landscape import plot_loss_contour, plot_loss_line, plot_loss_surface_3d


def _bowl(points: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    alphas = np.linspace(-1, 1, points)
    betas = np.linspace(-1, 1, points + 2)  # not square, so a transposed grid would be caught
    loss = 0.2 + 5 * (alphas[:, None] ** 2 + 0.5 * betas[None, :] ** 2)  # (len(alphas), len(betas))
    return alphas, betas, loss


def test_line_plot_is_a_png(tmp_path, read_png) -> None:
    alphas = np.linspace(-1, 1, 11)
    path = plot_loss_line(alphas, 0.2 + alphas ** 2, 0.9 - 0.3 * alphas ** 2, tmp_path / "line.png")
    pixels = read_png(path)
    assert pixels.shape[0] > 100 and pixels.std() > 0


def test_contour_and_surface_are_pngs(tmp_path, read_png) -> None:
    alphas, betas, loss = _bowl()
    contour = read_png(plot_loss_contour(alphas, betas, loss, tmp_path / "c.png", accuracy=1 / (1 + loss)))
    single = read_png(plot_loss_contour(alphas, betas, loss, tmp_path / "c1.png"))
    assert contour.shape[1] > single.shape[1]  # the accuracy panel makes the figure wider
    assert read_png(plot_loss_surface_3d(alphas, betas, loss, tmp_path / "s.png")).std() > 0


def test_wrong_shapes_and_diverged_points_are_refused(tmp_path) -> None:
    alphas, betas, loss = _bowl()
    with pytest.raises(ValueError, match="len\\(alphas\\), len\\(betas\\)"):
        plot_loss_contour(alphas, betas, loss.T, tmp_path / "c.png")
    loss[0, 0] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        plot_loss_surface_3d(alphas, betas, loss, tmp_path / "s.png")
    with pytest.raises(ValueError, match="equal length"):
        plot_loss_line(alphas, alphas[:-1], alphas, tmp_path / "l.png")
    assert not list(tmp_path.iterdir())  # nothing half-written
