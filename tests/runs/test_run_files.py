"""Every file cnnkit reads back from a run directory is checked: a damaged or edited model.json,
config.json or metrics.jsonl gives one line and exit code 2 in every command, never a traceback.

The cases are those a red team found (issue 12, section 5) plus a hypothesis search that
mutates each field of a real model.json and config.json.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnkit.cli.main import main



def _run(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def run_copy(digits_run: Path, tmp_path: Path) -> Path:
    """A private copy of the trained digits run, free to damage."""
    target = tmp_path / "run"
    shutil.copytree(digits_run, target)
    return target


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "digit.png"
    Image.fromarray((np.arange(64).reshape(8, 8) * 4).astype(np.uint8)).save(path)
    return path


def _edit(path: Path, key: str, value: Any, *, raw: str | None = None) -> None:
    values = json.loads(path.read_text())
    values[key] = value
    text = json.dumps(values)
    if raw is not None:  # a value json.dumps cannot write (10,000 levels deep)
        text = text.replace(json.dumps(value), raw)
    path.write_text(text)


MODEL_JSON_CASES = [
    ("architecture", 3), ("architecture", ["fastnet"]), ("architecture", "nosuchnet"),
    ("kwargs", None), ("kwargs", [1, 2]), ("kwargs", {"widths": "abc"}), ("kwargs", {"bogus_option": 1}),
    ("num_classes_in_kwargs", 10**10),
    ("classes", []), ("classes", ["a", "b", "c"]), ("classes", [f"c{i}" for i in range(20)]), ("classes", [1] * 10),
    ("in_chans", 3), ("in_chans", "1"),
    ("input_size", 64), ("input_size", 4.5), ("input_size", "8"), ("input_size", 10**12),
    ("mean", [0.1, 0.2, 0.3]), ("mean", "0.5"), ("mean", [float("nan")]),
    ("std", [0]), ("std", [-1.0]),
    ("dataset", 5), ("training", [1]), ("format", 99), ("cnnkit_version", None), ("unknown_field", 1),
]


def _apply_model_case(run: Path, field: str, value: Any) -> None:
    path = run / "model.json"
    if field == "num_classes_in_kwargs":
        values = json.loads(path.read_text())
        values["kwargs"]["num_classes"] = value
        path.write_text(json.dumps(values))
    else:
        _edit(path, field, value)


COMMANDS = {
    "eval": lambda run, image: ["eval", str(run)],
    "predict": lambda run, image: ["predict", str(run), str(image)],
    "report": lambda run, image: ["report", str(run)],
    "saliency": lambda run, image: ["explain", "saliency", str(run), "--count", "2", "--method", "saliency"],
    "attack": lambda run, image: ["attack", str(run), "--method", "fgsm", "--count", "8"],
}


@pytest.mark.parametrize(("field", "value"), MODEL_JSON_CASES, ids=[f"{f}={str(v)[:20]}" for f, v in MODEL_JSON_CASES])
def test_an_edited_model_json_is_one_line_in_every_command(run_copy: Path, image: Path, capsys, field, value) -> None:
    _apply_model_case(run_copy, field, value)
    for name, args in COMMANDS.items():
        code, _, err = _run(args(run_copy, image), capsys)
        assert code == 2, f"{name}: exit {code}\n{err}"
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cnnkit: error: "), f"{name}: {err}"
        assert "model.json" in lines[0] or "model.safetensors" in lines[0], f"{name}: {lines[0]}"


def test_model_json_nested_ten_thousand_levels_is_one_line(run_copy: Path, image: Path, capsys) -> None:
    path = run_copy / "model.json"
    _edit(path, "training", "DEEP", raw="[" * 10_000 + "]" * 10_000)
    code, _, err = _run(["predict", str(run_copy), str(image)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "nests deeper" in err, err


def test_a_future_run_format_is_refused_with_upgrade_advice(run_copy: Path, image: Path, capsys) -> None:
    _edit(run_copy / "model.json", "format", 2)
    code, _, err = _run(["predict", str(run_copy), str(image)], capsys)
    assert code == 2 and "newer cnnkit" in err and "upgrade cnnkit" in err, err


def test_nan_mean_is_refused_instead_of_predicting_nan_percent(run_copy: Path, image: Path, capsys) -> None:
    _edit(run_copy / "model.json", "mean", [float("nan")])
    code, out, err = _run(["predict", str(run_copy), str(image)], capsys)
    assert code == 2 and "nan%" not in out and "mean[0] must be a finite number" in err, err


def test_an_untouched_run_still_works_in_every_command(run_copy: Path, image: Path, capsys) -> None:
    for name in ("eval", "predict"):
        code, out, err = _run(COMMANDS[name](run_copy, image), capsys)
        assert code == 0, f"{name}: {err}"


@pytest.mark.parametrize(
    "lines",
    [
        ['{"epoch": 1, "train_loss": 0.5}', "garbage", '{"epoch": 2, "train_loss": 0.4}'],
        ['{"epoch": 1, "train_loss": "low"}'],
        ['{"epoch": "one"}'],
        ["[1, 2, 3]", '{"epoch": 1}'],
    ],
)
def test_garbage_in_metrics_jsonl_is_one_line_in_report(run_copy: Path, capsys, lines: list[str]) -> None:
    (run_copy / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    code, _, err = _run(["report", str(run_copy)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "metrics.jsonl line" in err, err


def test_a_torn_last_metrics_line_is_skipped(run_copy: Path) -> None:
    from cnnkit.runs import read_metrics

    path = run_copy / "metrics.jsonl"
    whole = path.read_text()
    path.write_text(whole + '{"epoch": 4, "train_lo')
    assert read_metrics(run_copy) == [json.loads(line) for line in whole.splitlines()]


@pytest.mark.parametrize(
    ("key", "value"),
    [("epochs", "8"), ("data", ["digits"]), ("model", 3), ("seed", 2**70), ("lr", None), ("model_kwargs", [])],
)
def test_a_config_json_of_wrong_types_is_one_line_in_report(run_copy: Path, capsys, key: str, value: Any) -> None:
    _edit(run_copy / "config.json", key, value)
    code, _, err = _run(["report", str(run_copy)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "config.json" in err and key in err, err


# ---------------------------------------------------------------------------- property-based
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 10**10, 10**20]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e-300, 1e308, 4.5]),
    st.text(max_size=5), st.sampled_from(["", "x" * 1000, "fastnet", "digits", "\0", "../../etc"]),
)
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=6,
)
_DEEP = st.integers(min_value=10, max_value=3000).map(lambda n: ("DEEP", n))


def _write_mutated(path: Path, original: dict, key: str, value: Any) -> None:
    values = dict(original)
    if isinstance(value, tuple) and value and value[0] == "DEEP":
        values[key] = "__DEEP__"
        text = json.dumps(values).replace('"__DEEP__"', "[" * value[1] + "]" * value[1])
    else:
        values[key] = value
        text = json.dumps(values)
    path.write_text(text)


def test_mutated_model_json_is_one_line_or_works(digits_run: Path, tmp_path: Path) -> None:
    """Each field of a real model.json swapped for another type, a huge or tiny number, an empty or
    long string, or deep nesting: `cnnkit predict` exits 0 or 2 with one line, nothing else."""
    import contextlib
    import io

    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    original = json.loads((run / "model.json").read_text())
    image = tmp_path / "digit.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    outcomes = {0: 0, 2: 0}

    @settings(max_examples=150)
    @given(key=st.sampled_from(sorted(original) + ["extra"]), value=st.one_of(_VALUES, _DEEP))
    @example(key="kwargs", value={"\x1e": None})  # a line separator for str.splitlines, found by this test
    @example(key="architecture", value="lenet5\u2028fastnet")
    def check(key: str, value: Any) -> None:
        _write_mutated(run / "model.json", original, key, value)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                main(["predict", str(run), str(image)])
                code = 0
            except SystemExit as exit_:
                code = exit_.code
        assert code in (0, 2), f"exit {code}: {err.getvalue()}"
        if code == 2:
            lines = err.getvalue().strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("cnnkit: error: "), err.getvalue()
        outcomes[code] += 1

    check()
    assert outcomes[2] > 0


def test_mutated_config_json_is_one_line_or_a_valid_config(digits_run: Path, tmp_path: Path, monkeypatch) -> None:
    """Each field of a real config.json mutated: `cnnkit train --config` either refuses it on one line
    with exit 2, or hands fit() a config equal to the file's values (training itself is stubbed)."""
    import contextlib
    import io

    import cnnkit.train
    from cnnkit.train import TrainConfig

    original = json.loads((digits_run / "config.json").read_text())
    path = tmp_path / "config.json"
    received: list[TrainConfig] = []

    class _Reached(Exception):
        pass

    def fake_fit(config: TrainConfig, *, progress: bool = True) -> None:
        received.append(config)
        raise _Reached

    monkeypatch.setattr(cnnkit.train, "fit", fake_fit)

    @settings(max_examples=150)
    @given(key=st.sampled_from(sorted(original) + ["extra"]), value=st.one_of(_VALUES, _DEEP))
    def check(key: str, value: Any) -> None:
        _write_mutated(path, original, key, value)
        err = io.StringIO()
        received.clear()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                main(["train", "--config", str(path), "--quiet"])
                code = 0
            except SystemExit as exit_:
                code = exit_.code
            except _Reached:
                code = "fit"
        if code == "fit":
            assert received[0].to_dict()[key] == json.loads(path.read_text())[key]
            return
        assert code == 2, f"exit {code}: {err.getvalue()}"
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cnnkit: error: "), err.getvalue()

    check()
