"""The cnnkit command as a user meets it: outputs, files, one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnkit.cli.main import main


def test_help_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "from cnnkit.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'cnnkit --help imported torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "train" in result.stdout and "predict" in result.stdout and "export" in result.stdout


def test_train_help_states_every_default_of_train_config(run_cli, capsys) -> None:
    import dataclasses

    from cnnkit.train.config import TrainConfig

    code, out, _ = run_cli(["train", "--help"], capsys)
    text = " ".join(out.split("Options:", 1)[1].split())  # rich wraps the help column
    assert code == 0
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    for flag, name in (("epochs", "epochs"), ("batch-size", "batch_size"), ("lr", "lr"), ("schedule", "schedule"),
                       ("weight-decay", "weight_decay"), ("seed", "seed"), ("workers", "num_workers")):
        assert f"[default: {defaults[name]}]" in text.split(f"--{flag} ", 1)[1].split("--", 1)[0], flag


def test_no_arguments_show_the_help(run_cli, capsys) -> None:
    code, out, _ = run_cli([], capsys)
    assert code == 0 and "Usage: cnnkit" in out and "train" in out


def test_models_lists_registered_models(run_cli, capsys) -> None:
    code, out, _ = run_cli(["models"], capsys)
    assert code == 0
    assert "lenet5" in out and "61,706" in out and "fastnet" in out


def test_train_prints_the_report_path(run_cli, tmp_path: Path, capsys) -> None:
    args = ["train", "--data", "digits", "--epochs", "1", "--out", str(tmp_path), "--name", "r", "--quiet"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    report = Path(out.strip().splitlines()[-1])
    assert report == tmp_path / "r" / "report.html" and report.is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--model", "lenet", "--data", "digits"], "did you mean 'lenet5'"),
        (["train", "--data", "fashion-mnis"], "did you mean 'fashion-mnist'"),
        (["train", "--data", "digits", "--epochs", "0"], "epochs (--epochs) must be an integer in [1, 10,000]"),
        (["train", "--data", "digits", "--lr", "0"], "lr (--lr) must be a number in (0, 10]"),
        (["train", "--data", "digits", "--batch-size", "0"], "batch_size (--batch-size) must be an integer in [1, 65,536]"),
        (["train", "--data", "digits", "--recipe", "fats"], "did you mean 'fast'"),
        (["train", "--config", "/nonexistent/config.json"], "does not exist"),
        (["eval", "/nonexistent/run"], "does not exist"),
        (["report", "/nonexistent/run"], "does not exist"),
        (["predict", "/nonexistent/run", "x.png"], "does not exist"),
        (["export", "/nonexistent/run"], "does not exist"),
        (["export", "/nonexistent/run", "--format", "tflite"], "unknown export format 'tflite'; cnnkit export writes: onnx"),
        (["export", "/nonexistent/run", "--opset", "abc"], "Invalid value for '--opset'"),
        (["train", "--epochs", "abc"], "Invalid value for '--epochs'"),
        (["train", "--bogus"], "No such option: --bogus"),
        (["eval"], "Missing argument 'run'; see 'cnnkit eval --help'"),
        (["nosuch"], "No such command 'nosuch'"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(run_cli, tmp_path: Path, capsys, args: list[str], message: str) -> None:
    code, out, err = run_cli([*args, "--out", str(tmp_path)] if args[0] == "train" else args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err
    assert not any(tmp_path.iterdir()), "a failed command left files behind"


def test_unwritable_out_gives_one_line(run_cli, tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli(["train", "--data", "digits", "--out", str(blocker / "runs")], capsys)
    assert code == 2 and "cannot write to output directory" in err


def test_debug_shows_the_traceback(capsys) -> None:
    from cnnkit.errors import UnknownModelError

    with pytest.raises(UnknownModelError):
        main(["--debug", "train", "--model", "nope", "--data", "digits"])


def test_eval_prints_accuracy_and_writes_confusion(run_cli, digits_run: Path, tmp_path: Path, capsys) -> None:
    code, out, err = run_cli(["eval", str(digits_run), "--out", str(tmp_path), "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert 0.85 < report["accuracy"] <= 1 and len(report["per_class"]) == 10
    assert sum(map(sum, report["confusion"])) == report["images"]
    assert Path(report["confusion_png"]).is_file()
    code, out, _ = run_cli(["eval", str(digits_run), "--out", str(tmp_path)], capsys)
    assert code == 0 and "accuracy" in out and "precision" in out


def _digit_image(path: Path, mode: str, size: tuple[int, int]) -> Path:
    from sklearn.datasets import load_digits

    digit = load_digits().images[0] / 16.0  # a zero, 8x8 in [0, 1]
    image = Image.fromarray((digit * 255).astype(np.uint8), mode="L").resize(size, Image.Resampling.NEAREST)
    image.convert(mode).save(path)
    return path


def test_predict_any_size_and_colour_mode(run_cli, digits_run: Path, tmp_path: Path, capsys) -> None:
    files = [
        _digit_image(tmp_path / "a.png", "L", (8, 8)),
        _digit_image(tmp_path / "b.png", "RGBA", (64, 64)),
        _digit_image(tmp_path / "c.jpg", "RGB", (100, 100)),
        _digit_image(tmp_path / "d.png", "P", (8, 8)),
    ]
    code, out, err = run_cli(["predict", str(digits_run), *map(str, files), "--json", "--top-k", "3"], capsys)
    assert code == 0, err
    predictions = json.loads(out)
    assert [p["path"] for p in predictions] == list(map(str, files))
    for p in predictions:
        assert len(p["classes"]) == 3
        assert p["probabilities"] == sorted(p["probabilities"], reverse=True)
        assert 0 < sum(p["probabilities"]) <= 1 + 1e-6
    assert predictions[0]["classes"][0] == "0"
    code, out, _ = run_cli(["predict", str(digits_run), str(files[0])], capsys)
    assert code == 0 and out.startswith(str(files[0]))


def test_predict_rejects_a_non_image(run_cli, digits_run: Path, tmp_path: Path, capsys) -> None:
    fake = tmp_path / "fake.png"
    fake.write_text("this is not a PNG")
    code, _, err = run_cli(["predict", str(digits_run), str(fake)], capsys)
    assert code == 2 and "cannot decode" in err and len(err.strip().splitlines()) == 1


def test_report_rebuilds_the_page(run_cli, digits_run: Path, capsys) -> None:
    before = (digits_run / "report.html").stat().st_mtime_ns
    code, out, err = run_cli(["report", str(digits_run)], capsys)
    assert code == 0, err
    assert Path(out.strip()) == digits_run / "report.html"
    assert (digits_run / "report.html").stat().st_mtime_ns >= before


def test_run_dir_missing_files_is_reported(run_cli, tmp_path: Path, capsys) -> None:
    (tmp_path / "run").mkdir()
    code, _, err = run_cli(["eval", str(tmp_path / "run")], capsys)
    assert code == 2 and "has no model.json" in err


def _mnist_files(directory: Path, *, images: int = 20, labels: int = 20) -> Path:
    from cnnkit.data.idx import write_idx

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (images, 28, 28), dtype=np.uint8), compress=True)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, labels, dtype=np.uint8), compress=True)
    return directory


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate", "train-images-idx3-ubyte.gz"),
        ("magic", "train-images-idx3-ubyte.gz"),
        ("count", "labels"),
    ],
)
def test_corrupt_data_files_give_one_line_and_no_run(run_cli, tmp_path: Path, capsys, damage: str, message: str) -> None:
    data = tmp_path / "mnist"
    if damage == "count":
        _mnist_files(data, images=20, labels=19)
    else:
        _mnist_files(data)
        target = data / "train-images-idx3-ubyte.gz"
        raw = target.read_bytes()
        if damage == "truncate":
            target.write_bytes(raw[: len(raw) // 2])
        else:
            import gzip

            body = gzip.decompress(raw)
            target.write_bytes(gzip.compress(b"\x00\x00\x09\x99" + body[4:]))
    out = tmp_path / "runs"
    code, _, err = run_cli(["train", "--data", "mnist", "--data-dir", str(data), "--out", str(out), "--epochs", "1"], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run([sys.executable, "-m", "cnnkit", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("cnnkit ")


def test_eval_on_a_dataset_of_another_shape_says_so(run_cli, digits_run: Path, tmp_path: Path, capsys) -> None:
    data = _mnist_files(tmp_path / "mnist")
    code, _, err = run_cli(["eval", str(digits_run), "--data", "mnist", "--data-dir", str(data)], capsys)
    assert code == 2
    assert "mnist has 10 classes of 1x28x28 images, but the run predicts 10 classes of 1x8x8" in err


def test_export_prints_a_summary_and_the_path(run_cli, untrained_run, tmp_path: Path, capfd) -> None:
    run_dir = untrained_run("lenet5")
    target = tmp_path / "lenet.onnx"
    code, out, err = run_cli(["export", str(run_dir), "--format", "onnx", "--out", str(target), "--opset", "18"], capfd)
    assert code == 0, err
    assert err == "", "the exporter's own prints and log records must not reach the terminal"
    summary, path = out.strip().splitlines()
    assert summary.startswith("onnx opset 18, ") and "MB" in summary
    assert Path(path) == target and target.stat().st_size > 200_000  # LeNet-5's 61,706 float32 weights
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("out-in-a-file", "is not a directory; create it or choose another --out"),
        ("out-is-a-directory", "is a directory; give --out a file name"),
        ("opset-too-new", "--opset must be between 1 and"),
        ("opset-unreachable", "could not convert lenet5 to opset 13"),  # torch.onnx would silently keep 18
        ("no-onnxscript", "pip install 'cnnkit[onnx]'"),
    ],
)
def test_export_errors_give_one_line_and_no_file(run_cli, 
    untrained_run, tmp_path: Path, capfd, monkeypatch, case: str, message: str
) -> None:
    run_dir = untrained_run("lenet5")
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    out = {"out-in-a-file": tmp_path / "file" / "m.onnx", "out-is-a-directory": tmp_path / "dir"}.get(case, tmp_path / "m.onnx")
    args = ["export", str(run_dir), "--out", str(out)]
    args += {"opset-too-new": ["--opset", "999"], "opset-unreachable": ["--opset", "13"]}.get(case, [])
    if case == "no-onnxscript":
        monkeypatch.setitem(sys.modules, "onnxscript", None)  # import onnxscript now raises ImportError
    code, _, err = run_cli(args, capfd)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "file"] and not any((tmp_path / "dir").iterdir())
    assert sorted(p.name for p in run_dir.iterdir()) == ["model.json", "model.safetensors"]


def test_a_command_group_without_a_command_shows_its_commands(run_cli, capsys) -> None:
    code, out, err = run_cli(["ops"], capsys)
    assert code == 0 and err == ""
    assert "Commands:" in out and "demo" in out
