"""``cnnkit import-weights`` as a user meets it: a run that eval and predict accept, one-line refusals."""

from __future__ import annotations

import json
import os
import pickle
import re
import shlex
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from cnnkit.cli.import_weights import DEPRECATED_OUT
from cnnkit.interop.import_weights import RANGES
from cnnkit.models import create_model
from cnnkit.runs import load_run


def _lenet(**kw: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    return create_model("lenet5", **kw).state_dict()


def test_imported_weights_predict(run_cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_file(_lenet(), tmp_path / "lenet.safetensors")
    run = tmp_path / "runs" / "imported"
    code, out, err = run_cli(["import-weights", "lenet5", str(tmp_path / "lenet.safetensors"), "--out",
                              str(tmp_path / "runs"), "--name", "imported", "--mean", "0.1307", "--std", "0.3081"],
                             capsys)  # fmt: skip
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
    code, _, err = run_cli(["import-weights", "lenet5", str(tmp_path / "ckpt.pth"), "--out", str(tmp_path),
                            "--name", "run", "--data", "digits"], capsys)  # fmt: skip
    assert code == 0 and err == ""
    code, out, err = run_cli(["eval", str(run), "--json", "--out", str(tmp_path / "eval")], capsys)
    assert code == 0, err
    assert json.loads(out)["dataset"] == "digits" and json.loads(out)["images"] == 359


def test_eval_of_a_run_without_dataset_asks_for_data(run_cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_file(_lenet(), tmp_path / "w.safetensors")
    code, _, err = run_cli(["import-weights", "lenet5", str(tmp_path / "w.safetensors"), "--out", str(tmp_path),
                            "--name", "run"], capsys)  # fmt: skip
    assert code == 0 and err.count("\n") == 1 and "cnnkit: warning:" in err and "unnormalised" in err
    code, _, err = run_cli(["eval", str(tmp_path / "run")], capsys)
    assert code == 2 and err.strip().splitlines() == [
        f"cnnkit: error: {tmp_path / 'run'} records no dataset (its weights were imported); pass --data NAME"
    ]


def test_non_strict_warns_on_one_line(run_cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = _lenet()
    del state["classifier.7.bias"]
    torch.save(state, tmp_path / "w.pt")
    args = ["import-weights", "lenet5", str(tmp_path / "w.pt"), "--out", str(tmp_path), "--name", "run", "--data", "mnist"]
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


def _truncated_legacy(path: Path, sentinel: Path) -> None:
    """A legacy (non-zip) torch.save file cut inside a pickled name: it was called pickled code."""
    torch.save(_lenet(), path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:200])


def _nan(path: Path, sentinel: Path) -> None:
    state = _lenet()
    torch.save({**state, "classifier.4.bias": torch.full_like(state["classifier.4.bias"], float("nan"))}, path)


def _wrong_shape(path: Path, sentinel: Path) -> None:
    torch.save({**_lenet(), "classifier.4.weight": torch.zeros(84, 100)}, path)


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (_evil_pickle, [], "was refused and not loaded: it contains pickled code or objects (posix.system)"),
        (_evil_zip, [], "was refused and not loaded: it contains pickled code or objects (posix.system)"),
        (lambda p, s: p.write_bytes(b"\x00" * 8 + b"not weights"), [], "neither a safetensors file nor"),
        (_truncated, [], "is truncated or corrupt"),
        (_truncated_legacy, [], "is truncated or corrupt"),
        (_nan, [], "holds NaN or infinite values in tensor 'classifier.4.bias' (84 of 84 values)"),
        (lambda p, s: torch.save([torch.zeros(3)], p), [], "holds a list, not a state dict"),
        (_wrong_shape, [], "wrong shape 1: classifier.4.weight (file 84x100, model 84x120)"),
        (lambda p, s: torch.save(_lenet(), p), ["--mean", "0.1,x"], "--mean '0.1,x': give numbers separated by commas"),
        (lambda p, s: torch.save(_lenet(), p), ["--model-kwargs", "{bad"], "--model-kwargs is not valid JSON"),
        (lambda p, s: torch.save(_lenet(), p), ["--data", "mnsit"], "did you mean 'mnist'"),
        (lambda p, s: torch.save(_lenet(), p), ["--classes", "/nonexistent/names.txt"], "class names file /nonexistent"),
    ],
    ids=["pickle-os.system", "torch.save-os.system", "garbage", "truncated", "truncated-legacy", "nan", "list", "wrong-shape",
         "bad-mean", "bad-kwargs", "unknown-data", "missing-classes"],
)
def test_bad_input_gives_one_line_exit_2_and_no_run(run_cli, 
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Callable, extra: list[str], message: str
) -> None:
    sentinel, weights, runs = tmp_path / "SENTINEL", tmp_path / "w.pt", tmp_path / "runs"
    make(weights, sentinel)
    code, out, err = run_cli(["import-weights", "lenet5", str(weights), "--out", str(runs), "--name", "run", *extra], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnkit: error: ") and message in lines[0], err
    assert "Traceback" not in err
    assert not sentinel.exists(), "code in the weights file ran"
    assert not runs.exists() or not any(runs.iterdir()), "a failed import left files behind"


def test_an_existing_out_is_refused(run_cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_file(_lenet(), tmp_path / "w.safetensors")
    (tmp_path / "run").mkdir()
    code, _, err = run_cli(["import-weights", "lenet5", str(tmp_path / "w.safetensors"), "--out", str(tmp_path),
                            "--name", "run"], capsys)  # fmt: skip
    assert code == 2 and "already exists; choose another --out or --name" in err and len(err.strip().splitlines()) == 1
    # The old spelling on an existing directory: the user most likely meant it as the parent.
    code, _, err = run_cli(["import-weights", "lenet5", str(tmp_path / "w.safetensors"), "--out", str(tmp_path / "run")],
                           capsys)  # fmt: skip
    assert err.strip().splitlines() == [
        f"cnnkit: error: {tmp_path / 'run'} already exists; --out without --name names the run directory itself: "
        f"add --name NAME to create {tmp_path / 'run' / 'NAME'}"
    ]
    assert code == 2 and list((tmp_path / "run").iterdir()) == []


def test_help_shows_examples(run_cli, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["import-weights", "--help"], capsys)
    assert code == 0 and "Examples:" in out and "--non-strict" in out and "cnnkit import-weights lenet5" in out
    assert "--name" in out and "cnnkit import-weights lenet5 ckpt.pt --out runs --name x" in out


def _spellings(tmp_path: Path) -> list[tuple[list[str], Path, list[str]]]:
    deprecated = "cnnkit: warning: " + DEPRECATED_OUT
    return [
        (["--out", str(tmp_path / "parent"), "--name", "mine"], tmp_path / "parent" / "mine", []),
        (["--name", "mine"], tmp_path / "runs" / "mine", []),
        (["--out", str(tmp_path / "old")], tmp_path / "old", [deprecated]),  # the old spelling: the run itself
    ]


@pytest.mark.parametrize("case", [0, 1, 2], ids=["out-and-name", "name", "out-alone-deprecated"])
def test_out_is_the_parent_and_name_the_run(
    run_cli, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, case: int
) -> None:
    monkeypatch.chdir(tmp_path)  # the default parent is runs/ in the working directory
    options, run, warnings = _spellings(tmp_path)[case]
    save_file(_lenet(), tmp_path / "w.safetensors")
    code, out, err = run_cli(["import-weights", "lenet5", "w.safetensors", "--data", "mnist", *options], capsys)
    assert code == 0, err
    assert out.strip().endswith(f"into lenet5: {run.relative_to(tmp_path) if case == 1 else run}")
    assert err.strip().splitlines() == warnings
    assert (run / "model.safetensors").is_file() and (run / "model.json").is_file()


def test_without_out_or_name_the_run_is_named_like_trains(
    run_cli, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    save_file(_lenet(), tmp_path / "w.safetensors")
    for _ in range(2):  # the second in the same second gets -2
        code, _, err = run_cli(["import-weights", "lenet5", "w.safetensors", "--data", "mnist"], capsys)
        assert code == 0 and err == ""
    names = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(names) == 2 and all(re.fullmatch(r"lenet5-imported-\d{8}-\d{6}(-2)?", n) for n in names), names


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--num-classes", str(10**10)], "num_classes (--num-classes) must be an integer in [1, 100,000], got 10000000000"),
        (["--input-size", str(10**9)], "input_size (--input-size) must be an integer in [1, 4,096], got 1000000000"),
        (["--in-chans", "100"], "in_chans (--in-chans) must be an integer in [1, 64], got 100"),
        (["--num-classes", "0"], "num_classes (--num-classes) must be an integer in [1, 100,000], got 0"),
        (["--input-size", "2"], "lenet5 needs inputs of at least 4x4 pixels, got 2"),
        (["--mean", "nan"], "--mean [nan]: give one finite number per channel"),
        (["--std", "0"], "--std [0.0]: every std must be positive"),
        (["--std", "-0.2"], "every std must be positive"),
        (["--mean", "0.1,0.2,0.3"], "--mean [0.1, 0.2, 0.3]: give one number per channel (1) or one for all"),
        (["--mean", "124"], "statistics of pixels in [0, 1] lie in [0, 1]"),
        (["--model-kwargs", "[" * 5000 + "]" * 5000], "--model-kwargs nests too deeply"),
        (["--name", "x" * 300], "--name must be a plain directory name (no '/', not starting with '.', at most 255 bytes)"),
        (["--name", "a/b"], "--name must be a plain directory name"),
        (["--name", ".hidden"], "--name must be a plain directory name"),
        (["--name", ""], "--name must be a plain directory name"),
        (["--out", "x" * 300], "the run directory name (the last part of --out) must be a plain directory name"),
    ],
    ids=lambda v: v[0] if isinstance(v, list) and len(v[-1]) < 30 else None,
)
def test_out_of_range_options_give_one_line(
    run_cli, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    options: list[str], message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    torch.save(_lenet(), tmp_path / "w.pt")
    code, out, err = run_cli(["import-weights", "lenet5", "w.pt", *options], capsys)
    assert code == 2 and out == "" and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnkit: error: ") and message in lines[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pt"], "a failed import left files behind"


def test_help_states_the_ranges(run_cli, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["import-weights", "--help"], capsys)
    text = " ".join(out.split())
    assert code == 0
    assert f"Classes, 1 to {RANGES['num_classes'][1]:,}" in text and f"Input channels, 1 to {RANGES['in_chans'][1]}" in text
    assert f"from the model's minimum to {RANGES['input_size'][1]}" in text
    assert "each in [0, 1]" in text and "each in (0, 1]" in text and "at most 255 bytes" in text


def test_a_deflated_checkpoint_imports_the_values_it_holds(run_cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The worst bug: deflated zip members read through mmap gave garbage weights and exit 0."""
    path = tmp_path / "w.pt"
    torch.save(_lenet(), path)
    with zipfile.ZipFile(path) as source:
        members = [(info.filename, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in members:
            target.writestr(name, data)
    code, _, err = run_cli(["import-weights", "lenet5", str(path), "--out", str(tmp_path), "--name", "run",
                            "--data", "mnist"], capsys)  # fmt: skip
    assert code == 0, err
    reference = torch.load(path, weights_only=True)  # plain torch.load, which inflates
    loaded = load_run(tmp_path / "run").network.state_dict()
    assert loaded.keys() == reference.keys()
    assert all(torch.equal(loaded[k], reference[k]) and torch.equal(loaded[k], _lenet()[k]) for k in reference)


_CHILD = "import sys\nfrom cnnkit.cli.main import main\nmain(sys.argv[1:])\n"


@pytest.mark.parametrize("fifo_is", ["weights", "classes"])
def test_a_fifo_is_refused_without_blocking(tmp_path: Path, fifo_is: str) -> None:
    """Opening a FIFO blocks until a writer comes: run the CLI in a child with a timeout, so a regression fails."""
    fifo, weights = tmp_path / "fifo", tmp_path / "w.pt"
    os.mkfifo(fifo)
    torch.save(_lenet(), weights)
    args = ["import-weights", "lenet5", str(fifo if fifo_is == "weights" else weights), "--out", str(tmp_path),
            "--name", "run", "--mean", "0.5", "--std", "0.5"]  # fmt: skip
    if fifo_is == "classes":
        args += ["--classes", str(fifo)]
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, timeout=120)
    what = "weights file" if fifo_is == "weights" else "class names file"
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"cnnkit: error: {what} {fifo} is a FIFO (named pipe); give a regular file"]
    assert not (tmp_path / "run").exists()
