"""The landscape page, written by the library alone: the JSON equals loss_landscape's grid, and a
rank that does not write (torchrun's others) leaves no folder."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from cnnkit.explain.landscape import LandscapeConfig, LandscapeResult, loss_landscape
from cnnkit.reports.landscape import write_landscape
from cnnkit.reports.pages import OutputFolder
from cnnkit.runs import dataset_for, open_model


def test_line_json_and_page_equal_the_library(digits_run: Path, tmp_path: Path) -> None:
    run = open_model(digits_run)
    data = dataset_for(run)
    config = LandscapeConfig(dims=1, points=3, subset=60, batch_size=30, seed=1)
    output = OutputFolder(run, str(digits_run), "landscape", tmp_path / "l")
    result = write_landscape(output, run, str(digits_run), data, config, dataset="digits", split="test")
    expected = loss_landscape(run.model, data, config)
    assert torch.equal(result.loss, expected.loss) and torch.equal(result.accuracy, expected.accuracy)
    assert sorted(p.name for p in output.final.iterdir()) == ["index.html", "landscape-1d.json", "landscape-1d.png"]
    saved = LandscapeResult.load(output.final / "landscape-1d.json")
    assert torch.equal(saved.loss, expected.loss) and saved.model == "fastnet"
    assert json.loads((output.final / "landscape-1d.json").read_text())["extra"] == {
        "source": str(digits_run), "dataset": "digits", "split": "test", "device": "cpu"}
    assert "Loss landscape" in output.page.read_text() and "min loss" in output.page.read_text()


def test_a_rank_that_does_not_write_leaves_nothing(digits_run: Path, tmp_path: Path) -> None:
    run = open_model(digits_run)
    config = LandscapeConfig(dims=1, points=3, subset=30, batch_size=30)
    output = OutputFolder(run, "digits", "landscape", tmp_path / "n")
    result = write_landscape(output, run, "digits", dataset_for(run), config, write=False)
    assert result.loss.shape == (3,) and not (tmp_path / "n").exists()
