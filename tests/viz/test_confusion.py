"""Tests for cnnkit.viz.confusion: rows true, columns predicted, coloured by row rate."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cnnkit.viz import plot_confusion_matrix


def _cell_shade(pixels: np.ndarray, k: int, find_runs) -> np.ndarray:
    """(k, k) shade (255 minus red: about 0 on white, large on dark blue) sampled in each cell.

    The matrix is the widest block of blue columns (the colour bar is a narrow one); each
    cell is sampled off-centre, away from the count printed in its middle.
    """
    blue = ((pixels[..., 2] - pixels[..., 0]) > 15) & (pixels[..., 0] < 240)   # (H, W)
    c0, c1 = max(find_runs(blue.sum(axis=0) > 20), key=lambda r: r[1] - r[0])
    r0, r1 = max(find_runs(blue[:, c0:c1].any(axis=1)), key=lambda r: r[1] - r[0])
    assert (r1 - r0) == pytest.approx(c1 - c0, rel=0.05)          # square cells
    out = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            y = int(r0 + (i + 0.2) * (r1 - r0) / k)
            x = int(c0 + (j + 0.2) * (c1 - c0) / k)
            out[i, j] = 255 - pixels[y, x, 0]
    return out


def test_rows_are_true_classes_and_colour_is_the_row_rate(tmp_path, read_png, find_runs):
    # row 0 (true "cat"): all predicted cat; row 1 (true "dog"): 30% cat, 70% dog.
    matrix = np.array([[100, 0], [300, 700]])
    pixels = read_png(plot_confusion_matrix(matrix, ["cat", "dog"], tmp_path / "cm.png"))
    shade = _cell_shade(pixels, 2, find_runs)
    assert shade[0, 1] < 15                                   # the empty cell stays white
    # colour follows the row rate (1.0 > 0.7 > 0.3), not the count (700 > 300 > 100)
    assert shade[0, 0] > shade[1, 1] > shade[1, 0] > shade[0, 1] + 30


def test_counts_colour_when_not_normalised(tmp_path, read_png, find_runs):
    matrix = np.array([[100, 0], [300, 700]])
    path = plot_confusion_matrix(matrix, ["cat", "dog"], tmp_path / "cm.png", normalize=False)
    shade = _cell_shade(read_png(path), 2, find_runs)
    assert shade[1, 1] > shade[1, 0] > shade[0, 0] > shade[0, 1]   # 700 > 300 > 100 > 0


def test_accepts_torch_tensors(tmp_path, read_png):
    torch = pytest.importorskip("torch")
    matrix = torch.tensor([[5, 1, 0], [0, 6, 1], [2, 0, 4]])
    read_png(plot_confusion_matrix(matrix, ["a", "b", "c"], tmp_path / "cm.png"))


def test_many_classes_render_at_a_bounded_size(tmp_path, read_png):
    rng = np.random.default_rng(0)
    k = 120                                                       # > 50: index ticks, no text
    matrix = rng.integers(0, 3, size=(k, k)) + np.eye(k, dtype=np.int64) * 50
    pixels = read_png(plot_confusion_matrix(matrix, [f"class {i}" for i in range(k)], tmp_path / "cm.png"))
    assert max(pixels.shape[:2]) <= 2000


def test_empty_rows_raise_no_warning(tmp_path, read_png):
    matrix = np.array([[3, 1, 0], [0, 0, 0], [0, 1, 5]])          # class 1 has no test images
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_png(plot_confusion_matrix(matrix, ["a", "b", "c"], tmp_path / "cm.png"))


@pytest.mark.parametrize(
    ("matrix", "classes", "message"),
    [
        (np.zeros((2, 3), dtype=int), ["a", "b"], "square"),
        (np.zeros((2, 2, 2), dtype=int), ["a", "b"], "square"),
        (np.zeros((2, 2), dtype=int), ["a", "b", "c"], "class names"),
        (np.array([[1, -1], [0, 2]]), ["a", "b"], "non-negative"),
        (np.array([[1.0, np.nan], [0, 2]]), ["a", "b"], "non-negative finite"),
    ],
)
def test_bad_input_raises_and_leaves_no_file(tmp_path, assert_no_file, matrix, classes, message):
    path = tmp_path / "cm.png"
    with pytest.raises(ValueError, match=message):
        plot_confusion_matrix(matrix, classes, path)
    assert_no_file(path)


def test_a_failed_render_keeps_the_previous_file(tmp_path):
    path = tmp_path / "cm.png"
    plot_confusion_matrix(np.eye(2, dtype=int), ["a", "b"], path)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        plot_confusion_matrix(np.eye(3, dtype=int), ["a", "b"], path)
    assert path.read_bytes() == before
