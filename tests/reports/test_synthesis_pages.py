"""The pages of explain maximize, invert, classes and dream, written by the library alone: the files,
and the numbers on the page equal to the synthesis functions' own with the same seed."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from cnnkit.explain import class_model, invert_layers, maximize
from cnnkit.explain.synthesis.class_models import class_model_config
from cnnkit.explain.synthesis.inversion import DEFAULT_INVERT, correlation
from cnnkit.explain.synthesis.maximization import DEFAULT_MAXIMIZE, unit_activation
from cnnkit.reports.pages import OutputFolder
from cnnkit.reports.synthesis import write_classes, write_dream, write_invert, write_maximize
from cnnkit.runs import open_model, sample_images


@pytest.fixture(scope="module")
def run(digits_run: Path):
    return open_model(digits_run)


def test_maximize_reaches_what_the_unit_gives_on_the_same_images(run, tmp_path: Path) -> None:
    config = dataclasses.replace(DEFAULT_MAXIMIZE, steps=3)
    output = OutputFolder(run, "digits", "maximize", tmp_path / "m")
    found = write_maximize(output, run, "digits", "features.2", [0, "layer"], config=config, seed=4)
    expected = maximize(run.model, "features.2", [0, "layer"], config=config, input_size=run.info.input_size, seed=4)
    assert torch.equal(found.x, expected)
    assert found.reached == unit_activation(run.model, expected, "features.2", [0, "layer"]).tolist()
    assert found.unit_value == "mean activation"
    assert sorted(p.name for p in output.final.iterdir()) == ["index.html", "maximize-features.2.png"]
    assert f"{sum(found.reached) / 2:.3g}" in output.page.read_text()


def test_invert_tables_each_layers_correlation(run, tmp_path: Path) -> None:
    x, _ = sample_images(run, 2, seed=2)
    config = dataclasses.replace(DEFAULT_INVERT, steps=3)
    output = OutputFolder(run, "digits", "invert", tmp_path / "i")
    scores = write_invert(output, run, "digits", x, ["features.0", "features.2"], config=config)
    r = invert_layers(run.model, x, ["features.0", "features.2"], config=config)
    assert [s.tolist() for s in scores] == [correlation(r[k], x).tolist() for k in range(2)]
    assert sorted(p.name for p in output.final.iterdir()) == ["index.html", "invert.png"]
    assert f">{float(scores[1].mean()):.3f}</td>" in output.page.read_text()


def test_classes_report_the_confidence_of_each_class_model(run, tmp_path: Path) -> None:
    config = dataclasses.replace(class_model_config(run.info.input_size), steps=3)
    output = OutputFolder(run, "digits", "classes", tmp_path / "c")
    conf = write_classes(output, run, "digits", [2, 5], config=config, seed=1)
    x = class_model(run.model, [2, 5], input_size=run.info.input_size, config=config, seed=1)
    with torch.no_grad():
        probs = run.model(x).softmax(1)
    assert conf == [float(probs[0, 2]), float(probs[1, 5])]
    assert sorted(p.name for p in output.final.iterdir()) == ["classes.png", "index.html"]
    assert f"{min(conf):.2%}" in output.page.read_text()


def test_dream_opens_one_progress_per_photo(run, tmp_path: Path) -> None:
    photos = [("a.png", torch.rand(1, 1, 12, 10, generator=torch.Generator().manual_seed(0))),
              ("b.png", torch.rand(1, 1, 9, 9, generator=torch.Generator().manual_seed(1)))]
    calls: dict[str, int] = {}

    @contextmanager
    def progress(name: str):
        calls[name] = 0
        yield lambda done, total: calls.__setitem__(name, done)

    output = OutputFolder(run, "digits", "dream", tmp_path / "d")
    what = write_dream(output, run, "digits", photos, target=3, octaves=2, steps=2, progress=progress)
    assert what == f"class {run.info.classes[3]}"
    assert set(calls) == {"a.png", "b.png"} and all(done > 0 for done in calls.values())
    assert sorted(p.name for p in output.final.iterdir()) == ["dream-0.png", "dream-1.png", "index.html"]
    assert "Amplifying class" in output.page.read_text()
