"""cnnkit summary and cnnkit rf as a user meets them."""

from __future__ import annotations

import pytest


def test_summary_prints_the_table_and_published_totals(run_cli, capsys) -> None:
    code, out, err = run_cli(["summary", "resnet50"], capsys)
    assert code == 0, err
    assert "Conv2d" in out and "9,408" in out and "25,557,032 parameters" in out and "4.09 GMACs" in out


def test_summary_takes_input_and_classes(run_cli, capsys) -> None:
    code, out, err = run_cli(["summary", "lenet5", "--input", "1x32x32", "--classes", "26"], capsys)
    assert code == 0, err
    assert "lenet5 on 1x32x32" in out and "MMACs" in out and "2,210" in out  # fc 84 -> 26: 84 * 26 + 26


def test_summary_counts_weight_sharing_by_hand(run_cli, capsys) -> None:
    code, out, err = run_cli(["summary", "lenet5"], capsys)
    assert code == 0, err
    # conv1: 1 -> 6 channels, 5x5, 28x28 out ('same'); conv2: 6 -> 16, 5x5, 14x14 in, 10x10 out
    shared = 6 * 1 * 25 + 16 * 6 * 25
    local = 6 * 1 * 25 * 28 * 28 + 16 * 6 * 25 * 10 * 10
    dense = (1 * 28 * 28) * (6 * 28 * 28) + (6 * 14 * 14) * (16 * 10 * 10)
    line = " ".join(out.split())
    assert (f"the 2 convolutions hold {shared:,} weights (biases aside); locally connected they would need "
            f"{local:,} ({local / shared:,.0f}x), fully connected {dense:,}") in line


def test_rf_names_the_layer_that_covers_an_object(run_cli, capsys) -> None:
    code, out, err = run_cli(["rf", "lenet5", "--object-size", "12"], capsys)
    assert code == 0, err
    assert "features.3" in out and "first covered by features.3 (r = 14" in out and "deep enough" in out
    code, out, _ = run_cli(["rf", "lenet5", "--object-size", "20"], capsys)
    assert code == 0 and "not deep enough" in out and "16 pixels" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summary", "resnt18"], "did you mean 'resnet18'"),
        (["rf", "lenet"], "did you mean 'lenet5'"),
        (["summary", "lenet5", "--input", "3xfoo"], "--input must look like 3x224x224"),
        (["rf", "lenet5", "--input", "1x0x28"], "--input must look like"),
        (["rf", "lenet5", "--input", "1x2x3x4"], "--input must look like"),
        (["summary", "lenet5", "--input", "1x28x40"], "cannot run on a 1x28x40 input"),
        (["rf", "lenet5", "--object-size", "0"], "--object-size must be >= 1"),
        (["summary", "lenet5", "--classes", "0"], "--classes must be >= 1"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(run_cli, capsys, args: list[str], message: str) -> None:
    code, out, err = run_cli(args, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
