"""``cnnkit explain landscape``: files written, equal to the library, bad input, and torchrun."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from cnnkit.explain.landscape import LandscapeResult, loss_line
from cnnkit.runs import dataset_for, open_model


def test_line_writes_plot_json_and_page_equal_to_the_library(digits_run, tmp_path, run_cli, capsys) -> None:
    out = tmp_path / "line"
    code, stdout, err = run_cli(["explain", "landscape", str(digits_run), "--points", "5", "--subset", "120",
                                 "--batch-size", "50", "--seed", "2", "--out", str(out), "--quiet"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "landscape-1d.json", "landscape-1d.png"]
    assert "wrote" in stdout and "120 images" in stdout
    saved = LandscapeResult.load(out / "landscape-1d.json")
    run = open_model(digits_run)
    expected = loss_line(run.model, dataset_for(run), points=5, subset=120, batch_size=50, seed=2)
    assert torch.equal(saved.loss, expected.loss) and torch.equal(saved.accuracy, expected.accuracy)
    assert saved.model == "fastnet" and saved.extra["dataset"] == "digits"
    assert "landscape-1d.png" not in (out / "index.html").read_text()  # the figure is embedded, not linked


@pytest.mark.parametrize("flags, words", [
    (["--points", "1"], "points"), (["--span", "1,-1"], "span"), (["--span=abc"], "--span"),
    (["--subset", "0"], "subset"), (["--dims", "3"], "dims"), (["--batch-size", "0"], "batch_size"),
    (["--split", "val"], "split"),
])
def test_bad_input_is_one_line_and_exit_2(digits_run, tmp_path, run_cli, capsys, flags, words) -> None:
    code, _, err = run_cli(["explain", "landscape", str(digits_run), *flags, "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x").exists()


def test_a_model_without_dataset_asks_for_data(tmp_path, run_cli, capsys) -> None:
    code, _, err = run_cli(["explain", "landscape", "lenet5", "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "--data" in err and len(err.strip().splitlines()) == 1, err


def test_torchrun_two_processes_equal_one(digits_run, tmp_path, run_cli, capsys) -> None:
    args = ["explain", "landscape", str(digits_run), "--dims", "2", "--points", "3", "--subset", "60", "--quiet"]
    code, _, err = run_cli([*args, "--out", str(tmp_path / "one")], capsys)
    assert code == 0, err
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "cnnkit", *args, "--out", str(tmp_path / "two")]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("wrote") == 1  # rank 0 speaks and writes for both
    one = json.loads((tmp_path / "one" / "landscape-2d.json").read_text())
    two = json.loads((tmp_path / "two" / "landscape-2d.json").read_text())
    assert two["processes"] == 2 and one["processes"] == 1
    torch.testing.assert_close(torch.tensor(two["loss"]), torch.tensor(one["loss"]), rtol=1e-6, atol=1e-7)
    assert two["accuracy"] == one["accuracy"]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
