"""Numbers typed on the command line and config files that are not files: one line, exit 2, no hang
(issue 12, sections 6 to 9)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--lr", "1e308"], "lr (--lr) must be a number in (0, 10]"),
        (["--threads", "100000"], "threads (--threads) must be an integer in [1, 256]"),
        (["--seed", str(2**64)], "seed (--seed) must be an integer in [0, 4,294,967,295]"),
        (["--epochs", str(10**20)], "epochs (--epochs) must be an integer in [1, 10,000]"),
        (["--weight-decay", "nan"], "weight_decay (--weight-decay) must be a finite number in [0, 1]"),
        (["--name", "x" * 300], "name (--name) must be a plain directory name"),
        (["--image-size", "100000"], "image_size (--image-size) must be an integer in [4, 1,024]"),
    ],
)
def test_out_of_range_numbers_are_one_line(run_cli, capsys, tmp_path: Path, flags: list[str], message: str) -> None:
    code, _, err = run_cli(["train", "--data", "digits", "--out", str(tmp_path), *flags], capsys)
    assert code == 2 and err.strip().splitlines() == [f"cnnkit: error: {err.strip().removeprefix('cnnkit: error: ')}"]
    assert message in err, err
    assert "lower --lr" not in err
    assert list(tmp_path.iterdir()) == []  # nothing was created


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"data": ["digits"]}, "data (--data) must be a non-empty string"),
        ({"model": 5}, "model (--model) must be a non-empty string"),
        ({"out": 5}, "out (--out) must be a non-empty string"),
        ({"epochs": 10**20}, "epochs (--epochs) must be an integer in [1, 10,000]"),
        ({"seed": 10**30}, "seed (--seed) must be an integer"),
        ({"model_kwargs": {"a": [[[[[[[[1]]]]]]]]}}, "nested at most 8 levels"),
        ([1, 2], "must hold a JSON object"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_the_file(run_cli, capsys, tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(content))
    code, _, err = run_cli(["train", "--config", str(path)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert message in err and str(path) in err, err


def test_a_config_nested_ten_thousand_levels_is_one_line(run_cli, capsys, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"model_kwargs": ' + "[" * 10_000 + "]" * 10_000 + "}")
    code, _, err = run_cli(["train", "--config", str(path)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "nests deeper" in err, err


def test_config_files_that_are_not_regular_files_fail_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(2 << 20)  # 2 MiB of zeros, sparse
    cases = {fifo: "a FIFO", Path("/dev/zero"): "a device", tmp_path: "a directory", huge: "more than the 1.0 MiB"}
    for path, message in cases.items():
        # A child process with a timeout: a regression would block on the FIFO, not hang the suite.
        done = subprocess.run(
            [sys.executable, "-m", "cnnkit", "train", "--config", str(path)],
            capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 2, (path, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (path, done.stderr)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explain", "saliency", "RUN", "--seed", str(10**21), "--count", "1"], "seed (--seed) must be an integer in"),
        (["explain", "saliency", "RUN", "--method", "ig", "--steps", str(10**11), "--count", "1"],
         "steps must be an integer in [1, 10,000]"),
        (["explain", "saliency", "RUN", "--method", "smoothgrad", "--samples", str(10**9), "--count", "1"],
         "samples must be an integer in [1, 10,000]"),
        (["explain", "maximize", "RUN", "--layer", "features.0", "--steps", str(10**11)],
         "steps must be an integer in [0, 100,000]"),
        (["attack", "RUN", "--method", "pgd", "--steps", str(10**12)], "--steps must be an integer in [1, 100,000]"),
        (["attack", "RUN", "--method", "bim", "--steps", "0"], "--steps must be an integer in [1, 100,000]"),
        (["attack", "RUN", "--count", str(10**9)], "--count must be an integer in [1, 1,000,000]"),
        (["attack", "RUN", "--method", "universal", "--fit-count", "0"], "--fit-count must be an integer in [1,"),
        (["attack", "RUN", "--seed", str(2**64)], "--seed must be an integer in [0, 4,294,967,295]"),
    ],
)
def test_explain_numbers_beyond_their_range_are_one_line(run_cli, capsys, digits_run: Path, tmp_path: Path,
                                                        args: list[str], message: str) -> None:
    args = [str(digits_run) if a == "RUN" else a for a in args] + ["--out", str(tmp_path / "out")]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
