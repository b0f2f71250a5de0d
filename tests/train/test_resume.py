"""Exact resume: a run stopped anywhere and resumed ends with the uninterrupted run's weights, bit for bit."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cnnkit.train.task as task
import cnnkit.train.trainer as trainer
from cnnkit.errors import CheckpointError, TrainingInterrupted
from cnnkit.runs import read_metrics
from cnnkit.train import TrainConfig, fit, resume

BASE = dict(model="lenet5", data="digits", epochs=2, batch_size=64, augment=True, dropout=0.2,
            threads=1, label_smoothing=0.1)  # augmentation and dropout: every random stream matters


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run."""
    out = tmp_path_factory.mktemp("reference")
    return fit(TrainConfig(**BASE, out=str(out), name="ref"), progress=False).run_dir


def _same_weights(a: Path, b: Path) -> bool:
    return (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()


def _signal_at(monkeypatch, global_step: int, signum: int = signal.SIGTERM) -> None:
    """Send this process a real signal when training reaches ``global_step``."""
    real = trainer.Trainer._checkpoint_due

    def due(self, step):
        if step == global_step:
            os.kill(os.getpid(), signum)
        return real(self, step)

    monkeypatch.setattr(trainer.Trainer, "_checkpoint_due", due)


@pytest.mark.parametrize("stop_at", [1, 10, 23, 24, 46])  # 23 steps per epoch: mid, end of epoch 1, last
def test_stopped_by_a_signal_and_resumed_gives_identical_weights(tmp_path, monkeypatch, reference, stop_at) -> None:
    _signal_at(monkeypatch, stop_at)
    config = TrainConfig(**BASE, out=str(tmp_path), name="run", checkpoint_every=0)
    if stop_at == 46:  # the last step: training completes, the signal is honoured at no cost
        result = fit(config, progress=False)
    else:
        with pytest.raises(TrainingInterrupted, match="resume with: cnnkit train --resume") as info:
            fit(config, progress=False)
        assert info.value.exit_code == 143
        assert (tmp_path / ".run.partial" / "state.json").is_file() and not (tmp_path / "run").exists()
        monkeypatch.undo()
        result = resume(tmp_path / "run", progress=False)
    assert _same_weights(result.run_dir, reference)
    metrics, expected = read_metrics(result.run_dir), read_metrics(reference)
    assert [m["epoch"] for m in metrics] == [1, 2]
    for got, want in zip(metrics, expected):
        assert got["train_loss"] == want["train_loss"] and got["test_acc"] == want["test_acc"]


def test_resuming_twice_and_the_report_counts_the_resumes(tmp_path, monkeypatch, reference) -> None:
    config = TrainConfig(**BASE, out=str(tmp_path), name="run", checkpoint_every=5)
    _signal_at(monkeypatch, 7, signal.SIGINT)
    with pytest.raises(TrainingInterrupted) as info:
        fit(config, progress=False)
    assert info.value.exit_code == 130
    monkeypatch.undo()
    _signal_at(monkeypatch, 30)
    with pytest.raises(TrainingInterrupted):
        resume(tmp_path / "run", progress=False)
    monkeypatch.undo()
    result = resume(tmp_path / ".run.partial", progress=False)
    assert _same_weights(result.run_dir, reference)
    assert json.loads((result.run_dir / "model.json").read_text())["training"]["resumed"] == 1


def test_resume_refuses_what_it_cannot_continue_and_touches_nothing(tmp_path, monkeypatch, reference) -> None:
    with pytest.raises(CheckpointError, match="is a finished run"):
        resume(reference)
    with pytest.raises(CheckpointError, match="does not exist"):
        resume(tmp_path / "nothing")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "config.json").write_text(TrainConfig(**BASE).to_json())
    with pytest.raises(CheckpointError, match="has no checkpoint"):
        resume(plain)

    _signal_at(monkeypatch, 3)
    with pytest.raises(TrainingInterrupted):
        fit(TrainConfig(**BASE, out=str(tmp_path), name="run"), progress=False)
    monkeypatch.undo()
    run = tmp_path / ".run.partial"
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "lr": 0.5}))
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(CheckpointError, match=r"changed since the checkpoint \(lr: 0.05 -> 0.5\)"):
        resume(run)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    (run / "config.json").write_text(json.dumps(config))
    blob = (run / "state.safetensors").read_bytes()
    (run / "state.safetensors").write_bytes(blob[: len(blob) // 2])
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(CheckpointError, match="does not match state.json"):
        resume(run)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


# --- the real thing: processes killed with SIGKILL at random moments, resumed by the CLI ---

CLI = [sys.executable, "-m", "cnnkit", "train", "--quiet", "--model", "lenet5", "--data", "digits",
       "--epochs", "2", "--batch-size", "64", "--augment", "--dropout", "0.2", "--threads", "1",
       "--label-smoothing", "0.1"]


def _cnnkit(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_at_random_moments_then_resume_is_bitwise_identical(tmp_path, reference) -> None:
    """CNNKIT_KILLS=30 (and CNNKIT_KILL_SEED) run the same check with many more kills."""
    rng = random.Random(int(os.environ.get("CNNKIT_KILL_SEED", "0")))
    wanted, kills = int(os.environ.get("CNNKIT_KILLS", "3")), 0
    run, partial = tmp_path / "k", tmp_path / ".k.partial"
    fresh = [*CLI, "--out", str(tmp_path), "--name", "k", "--checkpoint-every", "1"]
    process = _cnnkit(fresh, tmp_path)
    while kills < wanted:
        # imports and data take about 2 s; then every step writes a checkpoint, so kills land
        # in steps, evaluations and checkpoint writes alike
        time.sleep(rng.uniform(1.5, 4.5))
        if process.poll() is not None:
            break
        process.kill()
        process.wait()
        kills += 1
        if run.exists():  # killed after the final rename: the run is complete
            break
        if not (partial / "state.json").exists() and not (partial / ".state.json.next").exists():
            shutil.rmtree(partial, ignore_errors=True)  # killed before the first checkpoint
            process = _cnnkit(fresh, tmp_path)
            continue
        process = _cnnkit([sys.executable, "-m", "cnnkit", "train", "--quiet", "--resume", str(run)], tmp_path)
    if not run.exists():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    assert kills >= 1
    print(f"{kills} SIGKILLs, then bitwise identical")  # shown with -s
    assert _same_weights(run, reference), f"weights differ after {kills} kills"
    assert [m["epoch"] for m in read_metrics(run)] == [1, 2]


def test_ctrl_c_checkpoints_prints_how_to_resume_and_exits_130(tmp_path) -> None:
    args = [*CLI, "--out", str(tmp_path), "--name", "c", "--epochs", "12", "--eval-every", "12"]  # long enough to interrupt
    process = _cnnkit(args, tmp_path)
    state = tmp_path / ".c.partial" / "state.json"
    while not state.exists() and process.poll() is None:  # the first checkpoint: training has begun
        time.sleep(0.02)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnkit: interrupted; checkpoint saved at epoch"), lines
    assert lines[0].endswith(f"resume with: cnnkit train --resume {tmp_path / 'c'}")
    resumed = subprocess.run([sys.executable, "-m", "cnnkit", "train", "-q", "--resume", str(tmp_path / "c")],
                             capture_output=True, text=True, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert [m["epoch"] for m in read_metrics(tmp_path / "c")] == list(range(1, 13))


def test_cli_resume_refuses_training_flags(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "cnnkit", "train", "--resume", str(tmp_path), "--lr", "0.1"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "cnnkit: error: --resume continues the run as its config.json says; drop --lr "
        "(only --checkpoint-every, --workers and --quiet may change)"
    ]


class _Killed(BaseException):
    """Stands for SIGKILL inside this process: no handler, no cleanup, the files as they are."""


def _killed_then_resumed(tmp_path: Path, monkeypatch, **config) -> Path:
    """Train until the patched code raises _Killed, undo the patches, resume; the finished run."""
    with pytest.raises(_Killed):
        fit(TrainConfig(**BASE, out=str(tmp_path), name="run", **config), progress=False)
    monkeypatch.undo()
    return resume(tmp_path / "run", progress=False).run_dir


def test_killed_mid_evaluation_resumes_exactly(tmp_path, monkeypatch, reference) -> None:
    real = task.evaluate

    def dies(*args, **kwargs):
        real(*args, **kwargs)
        raise _Killed  # after the epoch's evaluation, before its record and checkpoint

    monkeypatch.setattr(task, "evaluate", dies)
    run = _killed_then_resumed(tmp_path, monkeypatch, checkpoint_every=7)
    assert _same_weights(run, reference)
    assert [m["epoch"] for m in read_metrics(run)] == [1, 2]


@pytest.mark.parametrize("moment", ["after the tensor file", "before the directory sync"])
def test_killed_mid_checkpoint_write_resumes_exactly(tmp_path, monkeypatch, reference, moment) -> None:
    import cnnkit.train.checkpoint as checkpoint

    calls = {"tensor file renamed": 0, "directory synced": 0}
    real_replace, real_sync = checkpoint.os.replace, checkpoint._fsync_dir

    def replace(src, dst):
        real_replace(src, dst)
        if str(dst).endswith("state.safetensors"):
            calls["tensor file renamed"] += 1
            if moment == "after the tensor file" and calls["tensor file renamed"] == 3:
                raise _Killed  # the 3rd checkpoint: its tensors in place, state.json still the old one

    def sync(path):
        calls["directory synced"] += 1
        if moment == "before the directory sync" and calls["directory synced"] == 3:
            raise _Killed
        real_sync(path)

    monkeypatch.setattr(checkpoint.os, "replace", replace)
    monkeypatch.setattr(checkpoint, "_fsync_dir", sync)
    assert _same_weights(_killed_then_resumed(tmp_path, monkeypatch, checkpoint_every=5), reference)


def test_a_disk_that_fills_up_stops_the_run_and_it_resumes_later(tmp_path, monkeypatch, reference) -> None:
    import errno

    import cnnkit.train.checkpoint as checkpoint
    from cnnkit.errors import OutputError

    real = checkpoint._write_synced
    calls = {"n": 0}

    def write(path, data):
        calls["n"] += 1
        if calls["n"] > 6:  # three checkpoints fit, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(checkpoint, "_write_synced", write)
    with pytest.raises(OutputError, match="No space left on device.*previous checkpoint is intact.*resume with"):
        fit(TrainConfig(**BASE, out=str(tmp_path), name="run", checkpoint_every=5), progress=False)
    monkeypatch.undo()
    run = tmp_path / ".run.partial"
    assert not list(run.glob(".state*.next"))
    result = resume(tmp_path / "run", progress=False)
    assert _same_weights(result.run_dir, reference)
