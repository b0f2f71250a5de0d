"""Figures of synthesised images: activation maximisation and class models (a captioned grid),
inversions (one row per image: the original, then its reconstruction from each layer, shallow to
deep; Mahendran & Vedaldi, 2015, arXiv:1412.0035) and DeepDream (before and after).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnkit.viz._arrays import to_numpy
from cnnkit.viz.grids import plot_image_grid

__all__ = ["plot_before_after", "plot_inversions", "plot_synthesised"]


def _show(images: np.ndarray) -> np.ndarray:
    """Images stretched to their own range (synthesised images rarely fill [0, 1] evenly)."""
    x = images.astype(np.float64)
    lo = x.reshape(len(x), -1).min(1).reshape(-1, *[1] * (x.ndim - 1))
    hi = x.reshape(len(x), -1).max(1).reshape(-1, *[1] * (x.ndim - 1))
    return (x - lo) / np.maximum(hi - lo, 1e-12)


def plot_synthesised(images: Any, captions: Sequence[str], path: str | os.PathLike[str], *, title: str,
                     ncols: int = 8, stretch: bool = False) -> Path:
    """A grid of synthesised images (Erhan et al., 2009; Simonyan et al., 2013), one caption each."""
    x = to_numpy(images)
    return plot_image_grid(_show(x) if stretch else x, captions, path, ncols=ncols, title=title)


def plot_inversions(originals: Any, reconstructions: Any, layers: Sequence[str], path: str | os.PathLike[str], *,
                    scores: Any = None, title: str = "inverting representations") -> Path:
    """Rows: each original, then its reconstructions (L, N, C, H, W) from ``layers``, shallow to deep (Mahendran & Vedaldi, 2015).

    ``scores`` (L, N), e.g. the correlation with the original, go into the captions.
    """
    x, r = to_numpy(originals), to_numpy(reconstructions)
    if r.ndim != 5 or r.shape[0] != len(layers) or r.shape[1:] != x.shape:
        raise ValueError(f"reconstructions must be (L, N, C, H, W) = ({len(layers)}, {', '.join(map(str, x.shape))}); "
                         f"got {r.shape}")
    s = None if scores is None else to_numpy(scores)
    tiles, captions = [], []
    for n in range(x.shape[0]):
        tiles.append(x[n])
        captions.append("original")
        for l, name in enumerate(layers):
            tiles.append(r[l, n])
            captions.append(name if s is None else f"{name}\nr = {s[l, n]:.2f}")
    return plot_image_grid(np.stack(tiles), captions, path, ncols=len(layers) + 1, title=title)


def plot_before_after(before: Any, after: Any, path: str | os.PathLike[str], *, title: str = "DeepDream",
                      captions: Sequence[str] = ("before", "after")) -> Path:
    """Each photo beside its dream (Mordvintsev et al., 2015): pairs of (C, H, W) images, any size."""
    b, a = to_numpy(before), to_numpy(after)
    if b.shape != a.shape:
        raise ValueError(f"before and after must have the same shape; got {b.shape} and {a.shape}")
    tiles = np.stack([img for pair in zip(b, a) for img in pair])
    # Photos are shown near their own resolution (100 pixels an inch, 1.3 to 5 inches wide).
    cell = float(np.clip(b.shape[-1] / 100, 1.3, 5.0))
    return plot_image_grid(tiles, list(captions) * len(b), path, ncols=2, title=title, cell_inches=cell)
