"""Shared helpers for the viz tests: read a rendered PNG back as pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _read_png(path: Path) -> np.ndarray:
    """The PNG at ``path`` as an (H, W, 3) int array, after checking it is a valid PNG."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(np.int64)


@pytest.fixture
def read_png():
    """Fixture form of ``_read_png`` so every test module can use it without imports."""
    return _read_png


def runs(mask: np.ndarray, min_length: int = 1) -> list[tuple[int, int]]:
    """The [start, stop) index ranges where the 1-D boolean ``mask`` is true, at least ``min_length`` long."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_length]


@pytest.fixture
def find_runs():
    """Fixture form of ``runs``."""
    return runs


@pytest.fixture
def assert_no_file():
    """Check that neither ``path`` nor a temporary file beside it was left behind."""

    def check(path: Path) -> None:
        assert not path.exists()
        assert [p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")] == []

    return check
