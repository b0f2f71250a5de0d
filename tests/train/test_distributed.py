"""torchrun: two processes on this machine train one model with DistributedDataParallel (gloo)."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cnnkit.runs import read_metrics
from cnnkit.train import TrainConfig, fit

ARGS = ["--model", "fastnet", "--data", "digits", "--epochs", "4", "--batch-size", "64", "--lr", "0.1",
        "--augment", "--threads", "1", "--quiet"]


def _torchrun(args: list[str], cwd: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "cnnkit", "train", *args]
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _digest(run: Path) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(load_file(run / "model.safetensors").items()):
        digest.update(key.encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("ddp")
    process = _torchrun([*ARGS, "--out", str(out), "--name", "ddp"], out)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    return out / "ddp", stdout


def test_two_processes_reach_the_accuracy_of_one(two_process_run, tmp_path) -> None:
    run, stdout = two_process_run
    single = fit(TrainConfig(model="fastnet", data="digits", epochs=4, batch_size=64, lr=0.1, augment=True,
                             threads=1, out=str(tmp_path), name="one"), progress=False)
    two = read_metrics(run)[-1]["test_acc"]
    assert two > 0.9 and abs(two - single.test_acc) <= 0.03, (two, single.test_acc)
    assert stdout.count("report.html") == 1, "only rank 0 reports"


def test_every_rank_ends_with_the_saved_weights(two_process_run) -> None:
    run, _ = two_process_run
    training = json.loads((run / "model.json").read_text())["training"]
    assert training["processes"] == 2 and training["steps_per_epoch"] == 23  # 1438 images / 64, global batch
    assert training["weights_sha256"] == [_digest(run)] * 2


def test_a_distributed_run_stopped_by_sigterm_resumes_exactly(two_process_run, tmp_path) -> None:
    run, _ = two_process_run
    process = _torchrun([*ARGS, "--out", str(tmp_path), "--name", "r", "--checkpoint-every", "3"], tmp_path)
    state = tmp_path / ".r.partial" / "state.json"
    while process.poll() is None and not (state.exists() and json.loads(state.read_text())["meta"]["step"] >= 3):
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)  # torchrun passes it on to both ranks
    process.communicate(timeout=120)
    if (tmp_path / "r").exists():
        pytest.skip("training finished before the signal arrived")
    assert state.exists()
    resumed = _torchrun(["--resume", str(tmp_path / "r"), "--quiet"], tmp_path)
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    assert _digest(tmp_path / "r") == _digest(run)
    assert [m["epoch"] for m in read_metrics(tmp_path / "r")] == [1, 2, 3, 4]
    assert torch.equal(
        torch.tensor([m["train_loss"] for m in read_metrics(tmp_path / "r")]),
        torch.tensor([m["train_loss"] for m in read_metrics(run)]),
    )
