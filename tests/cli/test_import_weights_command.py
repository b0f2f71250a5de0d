"""``cnnkit import-weights`` as a user meets it: a run that eval and predict accept, one-line refusals."""

from __future__ import annotations

import json
import os
import pickle
import shlex
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from cnnkit.models import create_model


def _lenet(**kw: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    return create_model("lenet5", **kw).state_dict()


def test_imported_weights_predict(run_cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_file(_lenet(), tmp_path / "lenet.safetensors")
    run = tmp_path / "runs" / "imported"
    code, out, err = run_cli(["import-weights", "lenet5", str(tmp_path / "lenet.safetensors"), "--out", str(run),
                              "--mean", "0.1307", "--std", "0.3081"], capsys)  # fmt: skip
    assert code == 0 and err == ""
    assert out.strip() == f"loaded 10 of 10 tensors (61,706 parameters) into lenet5: {run}"
    image = tmp_path / "digit.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(image)
    code, out, err = run_cli(["predict", str(run), str(image), "--json"], capsys)
    assert code == 0, err
    (prediction,) = json.loads(out)
    assert len(prediction["classes"]) == 3 and set(prediction["classes"]) <= set("0123456789")
    assert prediction["probabilities"] == sorted(prediction["probabilities"], reverse=True)


def test_imported_weights_evaluate(run_cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save({"state_dict": _lenet(input_size=8)}, tmp_path / "ckpt.pth")
    run = tmp_path / "run"
    code, _, err = run_cli(["import-weights", "lenet5", str(tmp_path / "ckpt.pth"), "--out", str(run),
                            "--data", "digits"], capsys)  # fmt: skip
    assert code == 0 and err == ""
    code, out, err = run_cli(["eval", str(run), "--json", "--out", str(tmp_path / "eval")], capsys)
    assert code == 0, err
    assert json.loads(out)["dataset"] == "digits" and json.loads(out)["images"] == 359


def test_eval_of_a_run_without_dataset_asks_for_data(run_cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_file(_lenet(), tmp_path / "w.safetensors")
    code, _, err = run_cli(["import-weights", "lenet5", str(tmp_path / "w.safetensors"), "--out", str(tmp_path / "run")], capsys)
    assert code == 0 and err.count("\n") == 1 and "cnnkit: warning:" in err and "unnormalised" in err
    code, _, err = run_cli(["eval", str(tmp_path / "run")], capsys)
    assert code == 2 and err.strip().splitlines() == [
        f"cnnkit: error: {tmp_path / 'run'} records no dataset (its weights were imported); pass --data NAME"
    ]


def test_non_strict_warns_on_one_line(run_cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = _lenet()
    del state["classifier.7.bias"]
    torch.save(state, tmp_path / "w.pt")
    args = ["import-weights", "lenet5", str(tmp_path / "w.pt"), "--out", str(tmp_path / "run"), "--data", "mnist"]
    code, out, err = run_cli([*args, "--non-strict"], capsys)
    assert code == 0 and out.startswith("loaded 9 of 10 tensors")
    warning = (
        "cnnkit: warning: loaded 9 of 10 tensors of lenet5; missing 1: classifier.7.bias (10); "
        "the rest keep their initial values (seed 0)"
    )
    assert err.strip().splitlines() == [warning]


class _System:
    """Unpickling this runs a shell command."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = str(sentinel)

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {shlex.quote(self.sentinel)}",))


def _evil_pickle(path: Path, sentinel: Path) -> None:
    path.write_bytes(pickle.dumps({"features.0.weight": _System(sentinel)}, protocol=2))


def _evil_zip(path: Path, sentinel: Path) -> None:
    torch.save({**_lenet(), "hook": _System(sentinel)}, path)


def _truncated(path: Path, sentinel: Path) -> None:
    torch.save(_lenet(), path)
    path.write_bytes(path.read_bytes()[:1000])


def _wrong_shape(path: Path, sentinel: Path) -> None:
    torch.save({**_lenet(), "classifier.4.weight": torch.zeros(84, 100)}, path)


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (_evil_pickle, [], "was refused and not loaded: it contains pickled code or objects (posix.system)"),
        (_evil_zip, [], "was refused and not loaded: it contains pickled code or objects (posix.system)"),
        (lambda p, s: p.write_bytes(b"\x00" * 8 + b"not weights"), [], "neither a safetensors file nor"),
        (_truncated, [], "is truncated or corrupt"),
        (lambda p, s: torch.save([torch.zeros(3)], p), [], "holds a list, not a state dict"),
        (_wrong_shape, [], "wrong shape 1: classifier.4.weight (file 84x100, model 84x120)"),
        (lambda p, s: torch.save(_lenet(), p), ["--mean", "0.1,x"], "--mean '0.1,x': give numbers separated by commas"),
        (lambda p, s: torch.save(_lenet(), p), ["--model-kwargs", "{bad"], "--model-kwargs is not valid JSON"),
        (lambda p, s: torch.save(_lenet(), p), ["--data", "mnsit"], "did you mean 'mnist'"),
        (lambda p, s: torch.save(_lenet(), p), ["--classes", "/nonexistent/names.txt"], "cannot read class names"),
    ],
    ids=["pickle-os.system", "torch.save-os.system", "garbage", "truncated", "list", "wrong-shape",
         "bad-mean", "bad-kwargs", "unknown-data", "missing-classes"],
)
def test_bad_input_gives_one_line_exit_2_and_no_run(run_cli, 
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Callable, extra: list[str], message: str
) -> None:
    sentinel, weights, runs = tmp_path / "SENTINEL", tmp_path / "w.pt", tmp_path / "runs"
    make(weights, sentinel)
    code, out, err = run_cli(["import-weights", "lenet5", str(weights), "--out", str(runs / "run"), *extra], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnkit: error: ") and message in lines[0], err
    assert "Traceback" not in err
    assert not sentinel.exists(), "code in the weights file ran"
    assert not runs.exists() or not any(runs.iterdir()), "a failed import left files behind"


def test_an_existing_out_is_refused(run_cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_file(_lenet(), tmp_path / "w.safetensors")
    (tmp_path / "run").mkdir()
    code, _, err = run_cli(["import-weights", "lenet5", str(tmp_path / "w.safetensors"), "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and "already exists; choose another --out" in err and len(err.strip().splitlines()) == 1


def test_help_shows_examples(run_cli, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["import-weights", "--help"], capsys)
    assert code == 0 and "Examples:" in out and "--non-strict" in out and "cnnkit import-weights lenet5" in out
    code, _, err = run_cli(["import-weights", "lenet5", "w.pt"], capsys)
    assert code == 2 and "Missing option '--out'" in err
