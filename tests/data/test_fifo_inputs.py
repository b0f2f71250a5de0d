"""A FIFO given where a data file is expected fails at once with one line, never hangs.

Each case runs in a child process with a timeout, so that a regression (a plain ``open`` on
the FIFO, which blocks until a writer appears) fails the test instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")

# Runs in the child: each call's error class and message, as JSON, one line per case.
_CHILD = """
import json, sys
from pathlib import Path
from cnnkit.errors import CnnkitError
from cnnkit.data.idx import read_idx
from cnnkit.data.extract import extract_archive
from cnnkit.data.images import load_image
from cnnkit.data.layouts import _read_val_solution
from cnnkit.data.catalog import load_dataset
d = Path(sys.argv[1])
cases = {
    "read_idx": lambda: read_idx(d / "pipe"),
    "extract_archive": lambda: extract_archive(d / "pipe", d / "out"),
    "load_image": lambda: load_image(d / "pipe"),
    "val_solution": lambda: _read_val_solution(d / "pipe"),
    "load_dataset": lambda: load_dataset("mnist", "train", data_dir=d / "mnist", download=False),
}
for name, call in cases.items():
    try:
        call()
        print(json.dumps([name, None, "returned"]))
    except CnnkitError as e:
        print(json.dumps([name, type(e).__name__, str(e)]))
"""


def _fifos(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "mnist").mkdir()
    os.mkfifo(tmp_path / "mnist" / "train-images-idx3-ubyte.gz")
    os.mkfifo(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz")
    return tmp_path


def test_fifo_inputs_fail_fast_with_one_line(tmp_path: Path) -> None:
    folder = _fifos(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder)], capture_output=True, text=True, timeout=120, check=True
    )
    results = {name: (kind, message) for name, kind, message in map(json.loads, done.stdout.splitlines())}
    assert set(results) == {"read_idx", "extract_archive", "load_image", "val_solution", "load_dataset"}
    for name, (kind, message) in results.items():
        assert kind is not None, f"{name} read a FIFO as data"
        assert "FIFO" in message and "give a regular file" in message, (name, message)
    assert results["read_idx"][0] == "MissingDataError" and results["load_image"][0] == "ImageError"
    assert "train-images-idx3-ubyte.gz" in results["load_dataset"][1]
    assert not (folder / "out").exists()


def test_cli_with_fifo_data_is_one_line_exit_2(tmp_path: Path) -> None:
    folder = _fifos(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "cnnkit", "train", "--data", "mnist", "--data-dir", str(folder / "mnist"),
         "--epochs", "1"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert done.returncode == 2
    err = done.stderr.strip()
    assert err.startswith("cnnkit: error: ") and "\n" not in err and "FIFO" in err
