"""Shared fixtures: a small trained run on the bundled digits, reused by many tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnkit.train import TrainConfig, fit


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FastNet trained for 3 epochs on scikit-learn's 8x8 digits (a few seconds)."""
    out = tmp_path_factory.mktemp("runs")
    config = TrainConfig(
        model="fastnet", data="digits", epochs=3, batch_size=64, lr=0.1, out=str(out), name="digits",
        model_kwargs={"widths": [16, 32, 64], "depths": [1, 1, 1]}, augment=True, threads=2,
    )
    return fit(config, progress=False).run_dir
