"""One writer per run directory: a second is refused on one line, a dead holder's lock is taken over."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnkit.cli.main import main
from cnnkit.errors import OutputError
from cnnkit.runs import RunInUseError, run_lock
from cnnkit.runs.lock import LOCK_FILE, lock_if_inside

_HOLD = """
import sys, time
from cnnkit.runs import run_lock
with run_lock(sys.argv[1], "test holder"):
    print("held", flush=True)
    time.sleep(60)
"""


def _hold(run_dir: Path) -> subprocess.Popen:
    """A child process that holds the lock until killed."""
    child = subprocess.Popen([sys.executable, "-c", _HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def _run(args: list[str], capsys) -> tuple[int, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    child = _hold(tmp_path)
    try:
        with pytest.raises(RunInUseError, match=rf"in use by process {child.pid} on .* \(test holder, since "):
            with run_lock(tmp_path):
                pass
    finally:
        child.kill()
        child.wait()


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    child = _hold(tmp_path)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert (tmp_path / LOCK_FILE).is_file()  # a kill -9 leaves the file behind ...
    with run_lock(tmp_path, "me"):           # ... but not the lock
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK_FILE).exists()  # released on exit


def test_the_lock_follows_a_renamed_run_and_is_released(tmp_path: Path) -> None:
    partial, final = tmp_path / ".r.partial", tmp_path / "r"
    partial.mkdir()
    with run_lock(partial) as lock:
        partial.rename(final)
        lock.moved(final)
        with pytest.raises(RunInUseError):
            with run_lock(final):
                pass
    assert not (final / LOCK_FILE).exists()
    with run_lock(final):
        pass


def test_nested_holders_in_one_process_are_refused(tmp_path: Path) -> None:
    with run_lock(tmp_path):
        with pytest.raises(RunInUseError):
            with run_lock(tmp_path):
                pass


def test_a_folder_that_cannot_be_written_is_one_clear_error(tmp_path: Path, monkeypatch) -> None:
    import cnnkit.runs.lock as runlock

    real_open = os.open

    def read_only(path, flags, *args):
        if str(path).endswith(LOCK_FILE):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(runlock.os, "open", read_only)
    with pytest.raises(OutputError, match="cannot write to run directory .* \\(Permission denied\\)"):
        with run_lock(tmp_path):
            pass


def test_only_writes_inside_the_run_take_its_lock(tmp_path: Path) -> None:
    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    run.mkdir()
    with lock_if_inside(run, elsewhere / "x.json", "cnnkit eval"):
        assert not (run / LOCK_FILE).exists()
    with lock_if_inside(run, run / "eval.json", "cnnkit eval"):
        assert (run / LOCK_FILE).exists()


def test_eval_report_and_export_of_a_run_in_use_are_refused(digits_run: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    child = _hold(run)
    try:
        for args in (["eval", str(run)], ["report", str(run)], ["export", str(run)]):
            code, err = _run(args, capsys)
            assert code == 2 and len(err.strip().splitlines()) == 1 and "is in use by process" in err, (args, err)
        code, _ = _run(["eval", str(run), "--out", str(tmp_path / "elsewhere")], capsys)
        assert code == 0  # writing elsewhere needs no lock
    finally:
        child.kill()
        child.wait()


def test_two_trainings_of_one_run_cannot_interleave(tmp_path: Path, capsys) -> None:
    """The red team's case: a second `train --resume` while the first trains is refused; once the
    first is killed, its stale lock does not stop a resume."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    first = subprocess.Popen(
        [sys.executable, "-m", "cnnkit", "train", "--data", "digits", "--model", "fastnet", "--epochs", "200",
         "--batch-size", "64", "--out", str(tmp_path), "--name", "r", "--quiet", "--threads", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    partial = tmp_path / ".r.partial"
    try:
        deadline = time.monotonic() + 120
        while not (partial / "state.json").is_file():
            assert time.monotonic() < deadline and first.poll() is None, "training did not start"
            time.sleep(0.2)
        code, err = _run(["train", "--resume", str(tmp_path / "r")], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert f"is in use by process {first.pid}" in err
    finally:
        first.kill()
        first.wait()
    with run_lock(partial):  # the dead trainer's lock is stale, not binding
        pass


def test_explain_and_attack_into_a_run_in_use_are_refused(digits_run: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    child = _hold(run)
    try:
        for args in (["explain", "filters", str(run)], ["attack", str(run), "--method", "fgsm", "--count", "4"]):
            code, err = _run(args, capsys)
            last = err.strip().splitlines()[-1]  # the attack's progress bar may precede it
            assert code == 2 and last.startswith("cnnkit: error: ") and "is in use by process" in last, (args, err)
        assert not (run / "explain").exists() and not (run / "attack").exists()
    finally:
        child.kill()
        child.wait()
    code, err = _run(["explain", "filters", str(run)], capsys)
    assert code == 0, err
    assert not (run / LOCK_FILE).exists()
