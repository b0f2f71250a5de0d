"""The explorer's fixtures: a LeNet-5 trained for one epoch on Fashion-MNIST (a few seconds), its
Explorer and an in-process client of the app."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnkit.train import TrainConfig, fit


@pytest.fixture(scope="session")
def lenet_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LeNet-5 after one epoch of Fashion-MNIST (about 85% test accuracy)."""
    config = TrainConfig(model="lenet5", data="fashion-mnist", epochs=1, out=str(tmp_path_factory.mktemp("runs")),
                         name="lenet5-fashion", threads=2)
    return fit(config, progress=False).run_dir


@pytest.fixture(scope="session")
def explorer(lenet_run):
    from cnnkit.runs import load_run
    from cnnkit.serve.explorer import Explorer

    return Explorer(load_run(lenet_run))


@pytest.fixture
def client(explorer):
    from fastapi.testclient import TestClient

    from cnnkit.serve.app import create_app

    with TestClient(create_app(explorer, allowed_hosts=("testserver",)), raise_server_exceptions=False) as c:
        yield c
