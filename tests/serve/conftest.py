"""The explorer's fixtures: a LeNet-5 trained for one epoch on Fashion-MNIST (a few seconds), its
Explorer and an in-process client of the app."""

from __future__ import annotations

import threading
import time
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


@pytest.fixture(scope="session")
def address(explorer):
    """The LeNet-5 explorer on uvicorn, on a free loopback port, in a thread: its base URL."""
    import uvicorn

    from cnnkit.serve.app import create_app
    from cnnkit.serve.server import bind

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app(explorer), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()
