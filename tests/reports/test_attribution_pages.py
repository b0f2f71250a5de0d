"""The pages of explain filters, maps and saliency, written by the library alone: the files, and
numbers on the page equal to the explain functions' own on the same images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnnkit.errors import ConfigError
from cnnkit.explain import completeness_error, feature_maps, integrated_gradients, layer_filters, saliency
from cnnkit.explain.pictures import conv_layers
from cnnkit.reports.attribution import write_filters, write_maps, write_saliency
from cnnkit.reports.pages import OutputFolder
from cnnkit.runs import open_model, sample_images


@pytest.fixture(scope="module")
def opened(digits_run: Path):
    run = open_model(digits_run)
    x, y = sample_images(run, 3, seed=1)
    return run, x, y


def test_filters_page_names_the_first_convolution_and_its_shape(opened, tmp_path: Path) -> None:
    run, _, _ = opened
    output = OutputFolder(run, "digits", "filters", tmp_path / "f")
    shown = write_filters(output, run, "digits", max_filters=4)
    first = conv_layers(run.model)[0]
    weight = layer_filters(run.model, first, max_filters=4)
    assert shown == first
    assert sorted(p.name for p in output.final.iterdir()) == [f"filters-{first}.png", "index.html"]
    page = output.page.read_text()
    assert f"Filters of {first}" in page and f"{weight.shape[0]} filters x {weight.shape[1]} input channels" in page


def test_maps_are_the_layers_feature_maps(opened, tmp_path: Path) -> None:
    run, x, _ = opened
    output = OutputFolder(run, "digits", "maps", tmp_path / "m")
    features = write_maps(output, run, "digits", x[:2], ["a", "b"], "features.1", max_channels=4)
    assert torch.equal(features, feature_maps(run.model, x[:2], "features.1", max_channels=4))
    assert sorted(p.name for p in output.final.iterdir()) == [
        "images.png", "index.html", "maps-features.1-0.png", "maps-features.1-1.png"]
    assert "Image 1: b" in output.page.read_text()


def test_saliency_page_states_the_completeness_error_integrated_gradients_has(opened, tmp_path: Path) -> None:
    run, x, y = opened
    output = OutputFolder(run, "digits", "saliency", tmp_path / "s")
    found = write_saliency(output, run, "digits", x, y, y, methods=["ig", "saliency"], steps=8)
    assert sorted(p.name for p in output.final.iterdir()) == ["attribution.png", "index.html"]
    assert torch.equal(found.explained, y) and list(found.maps) == ["saliency", "Integrated Gradients"]
    assert torch.equal(found.maps["saliency"], saliency(run.model, x, y))
    error = completeness_error(run.model, x, y, integrated_gradients(run.model, x, y, steps=8))
    assert torch.allclose(found.completeness, error)
    line = f"completeness error mean {error.mean().item():.3%}, max {error.max().item():.3%}"
    assert found.notes == [f"Integrated Gradients (8 steps, riemann_middle, black baseline): {line}"]
    assert line in output.page.read_text()


def test_saliency_explains_the_prediction_by_default_and_refuses_unknown_methods(opened, tmp_path: Path) -> None:
    run, x, _ = opened
    output = OutputFolder(run, "digits", "saliency", tmp_path / "p")
    found = write_saliency(output, run, "digits", x, None, methods=["gradcam"])
    assert torch.equal(found.explained, run.model(x).argmax(1)) and found.completeness is None
    assert found.notes[0].startswith("Grad-CAM at layer ")
    with pytest.raises(ConfigError, match="methods must be one or more of saliency"):
        write_saliency(OutputFolder(run, "digits", "saliency", tmp_path / "q"), run, "digits", x, None,
                       methods=["lime"])
    assert not (tmp_path / "q").exists()
