"""Shared fixtures: a small trained run on the bundled digits, reused by many tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from cnnkit.cli.main import main
from cnnkit.train import TrainConfig, fit

# Hypothesis profiles for the property and fuzz tests (tests/data/test_fuzz.py).
# "ci", the default, runs at most 200 cases per test so the whole suite stays fast.
# "fuzz" is for a long local hunt for new failures, e.g.
#     HYPOTHESIS_PROFILE=fuzz python -m pytest -q tests/data/test_fuzz.py
# No deadline in either: the machine is shared, so a slow case is not a failing one.
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=_QUIET)
settings.register_profile("fuzz", max_examples=10_000, deadline=None, suppress_health_check=_QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--amp", choices=("auto", "off", "bf16"), default="auto",
        help="what training's --amp auto resolves to in this session: 'off' runs the suite in float32 as "
             "on a CPU without native bfloat16 (thresholds must hold in both)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # an environment variable, so that commands the tests start as subprocesses see it too
    if config.getoption("--amp") != "auto":
        os.environ["CNNKIT_AMP"] = config.getoption("--amp")


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FastNet trained for 3 epochs on scikit-learn's 8x8 digits (a few seconds)."""
    out = tmp_path_factory.mktemp("runs")
    config = TrainConfig(
        model="fastnet", data="digits", epochs=3, batch_size=64, lr=0.1, out=str(out), name="digits",
        model_kwargs={"widths": [16, 32, 64], "depths": [1, 1, 1]}, augment=True, threads=2,
    )
    return fit(config, progress=False).run_dir


@pytest.fixture(scope="session")
def untrained_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Factory: untrained_run(model, in_chans, input_size) -> a run directory of a fresh, untrained model.

    BatchNorm statistics are randomised, so a layer exported as the identity cannot pass for a right one.
    """
    import torch

    from cnnkit.models import create_model
    from cnnkit.runs import ModelInfo, write_model

    def make(model: str, in_chans: int = 1, input_size: int = 28, num_classes: int = 10) -> Path:
        torch.manual_seed(0)
        kwargs = {"num_classes": num_classes, "in_chans": in_chans, "input_size": input_size}
        network = create_model(model, **kwargs)
        for bn in network.modules():
            if isinstance(bn, torch.nn.BatchNorm2d):
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 2.0)
        run_dir = tmp_path_factory.mktemp(model)
        info = ModelInfo(
            architecture=model, kwargs=kwargs, classes=[f"class {i}" for i in range(num_classes)],
            in_chans=in_chans, input_size=input_size, mean=[0.2 + 0.1 * c for c in range(in_chans)],
            std=[0.25] * in_chans, dataset="synthetic",
        )
        write_model(run_dir, network, info)
        return run_dir

    return make


@pytest.fixture
def run_cli() -> Callable[..., tuple[int, str, str]]:
    """The CLI as a test calls it: run_cli(args, capsys or capfd) -> (exit code, stdout, stderr)."""
    def run(args: list[str], capture) -> tuple[int, str, str]:
        try:
            main(args)
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        captured = capture.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def sigterm_at_step(monkeypatch):
    """``with sigterm_at_step(k): fit(...)``: the run receives SIGTERM, as from a scheduler, when it
    reaches global step ``k``, and stops with a checkpoint; outside the block training runs untouched."""
    import contextlib
    import signal

    import cnnkit.train.trainer as trainer

    @contextlib.contextmanager
    def at(step: int):
        real = trainer.Trainer._checkpoint_due

        def due(self, current):
            if current == step:
                os.kill(os.getpid(), signal.SIGTERM)
            return real(self, current)

        with monkeypatch.context() as patch:
            patch.setattr(trainer.Trainer, "_checkpoint_due", due)
            yield

    return at


@pytest.fixture
def torchrun_two_processes():
    """``torchrun_two_processes(args, run_dir)``: ``cnnkit ARGS...`` under torchrun with two processes
    (it must exit 0 and print one report path: rank 0 speaks for both); the run's model.json training
    record, whose weights_sha256 lists each rank's weights."""
    import json
    import subprocess
    import sys

    def run(args: list[str], run_dir: Path) -> dict:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "cnnkit",
               *args]
        done = subprocess.run(cmd, cwd=run_dir.parent, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("report.html") == 1
        return json.loads((run_dir / "model.json").read_text())["training"]

    return run
