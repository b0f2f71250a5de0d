"""Shared fixtures for tests/data: an isolated environment, a local HTTP server, image helpers.

Every test runs with its own cache, no $CNNKIT_DATA, no system locations and no reachable
download address, so nothing here ever touches the network or the user's files.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cnnkit.data.sources as sources
from cnnkit.data.fetch import Remote

_UNREACHABLE = "http://127.0.0.1:9/"  # the discard port: connection refused at once


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A private cache, no $CNNKIT_DATA, no system locations, and download addresses that refuse."""
    cache_home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.delenv("CNNKIT_DATA", raising=False)
    monkeypatch.setattr(sources, "SYSTEM_LOCATIONS", [])
    dead = {
        name: {f: tuple(Remote(_UNREACHABLE + f, sha256="0" * 64) for _ in rs[:1]) for f, rs in files.items()}
        for name, files in sources.IDX_REMOTES.items()
    }
    monkeypatch.setattr(sources, "IDX_REMOTES", dead)
    monkeypatch.setattr(
        sources, "CALTECH101_REMOTES", (Remote(_UNREACHABLE + "caltech-101.zip", sha256="0" * 64),)
    )
    return cache_home / "cnnkit"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1: (folder, base URL ending in '/')."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _write_image(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (12, 10)) -> Path:
    """A solid-colour image (PNG or JPEG by suffix) of ``size`` = (W, H)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


@pytest.fixture
def write_image():  # noqa: ANN201
    """Factory: write_image(path, color, size=(W, H)) -> path."""
    return _write_image


def _make_idx_split(
    directory: Path,
    split: str,
    n: int,
    *,
    seed: int,
    compress: bool = True,
    size: int = 28,
    num_classes: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Write a small MNIST-style split: images (n, size, size) and labels (n,), uint8."""
    from cnnkit.data.idx import write_idx

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
    labels = rng.integers(0, num_classes, n, dtype=np.uint8)
    prefix = "train" if split == "train" else "t10k"
    suffix = ".gz" if compress else ""
    directory.mkdir(parents=True, exist_ok=True)
    write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images, compress=compress)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels, compress=compress)
    return images, labels


@pytest.fixture
def make_idx_split():  # noqa: ANN201
    """Factory: make_idx_split(directory, split, n, *, seed, compress=True) -> (images, labels)."""
    return _make_idx_split
