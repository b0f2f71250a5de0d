"""DeepDream (Mordvintsev et al., 2015): any photo size, octaves, normalised steps."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnnkit.errors import ConfigError
from cnnkit.explain.synthesis.dream import deepdream
from cnnkit.explain.layers import activations
from cnnkit.explain.synthesis.maximization import layer_energy
from cnnkit.runs import open_model


def test_dream_on_a_photo_of_another_size_amplifies_the_layer(digits_run: Path) -> None:
    run = open_model(digits_run)
    photo = torch.rand(2, 1, 21, 13, generator=torch.Generator().manual_seed(0))
    dream = deepdream(run.model, photo, layer="features.6", octaves=3, steps_per_octave=5, lr=0.02)
    assert dream.shape == photo.shape and dream.min() >= 0 and dream.max() <= 1
    with torch.no_grad():
        before = layer_energy(activations(run.model, photo, ["features.6"])["features.6"])
        after = layer_energy(activations(run.model, dream, ["features.6"])["features.6"])
    assert (after > before * 1.2).all(), (before, after)


def test_one_octave_one_step_is_the_normalised_gradient_step(digits_run: Path) -> None:
    run = open_model(digits_run)
    photo = torch.rand(1, 1, 10, 10, generator=torch.Generator().manual_seed(1)) * 0.5 + 0.25
    dream = deepdream(run.model, photo, layer="features.2", octaves=1, steps_per_octave=1, jitter=0, lr=0.01)
    leaf = photo.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(activations(run.model, leaf, ["features.2"])["features.2"].pow(2).mean(), leaf)
    torch.testing.assert_close(dream, photo + 0.01 * g / g.abs().mean())


def test_class_target_resizes_for_a_fixed_size_classifier(digits_run: Path) -> None:
    run = open_model(digits_run)
    photo = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    dream = deepdream(run.model, photo, target=3, input_size=8, octaves=2, steps_per_octave=10, lr=0.02)
    assert dream.shape == photo.shape
    small = torch.nn.functional.interpolate
    with torch.no_grad():
        before = run.model(small(photo, size=(8, 8), mode="bilinear", antialias=True))[0, 3]
        after = run.model(small(dream, size=(8, 8), mode="bilinear", antialias=True))[0, 3]
    assert after > before


def test_dream_refuses_unclear_requests(digits_run: Path) -> None:
    run = open_model(digits_run)
    photo = torch.rand(1, 1, 8, 8)
    with pytest.raises(ConfigError, match="exactly one"):
        deepdream(run.model, photo)
    with pytest.raises(ConfigError, match="out of range"):
        deepdream(run.model, photo, target=12, input_size=8)
    with pytest.raises(ConfigError, match="octave_scale"):
        deepdream(run.model, photo, layer="features.2", octave_scale=1.0)


def test_a_network_built_for_one_size_dreams_on_photos_of_another() -> None:
    """CoAtNet's attention tables fix its input size: each octave is resized to it inside the objective."""
    run = open_model("coatnet_0", input_size=32, num_classes=10)
    photo = torch.rand(1, 3, 37, 35, generator=torch.Generator().manual_seed(0))
    out = deepdream(run.model, photo, layer="stages.1", octaves=2, steps_per_octave=2)
    assert out.shape == photo.shape and not torch.equal(out, photo)
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_progress_counts_every_step_of_every_octave(digits_run: Path) -> None:
    run = open_model(str(digits_run))
    seen: list[tuple[int, int]] = []
    deepdream(run.model, torch.rand(1, 1, 12, 10), layer="features.0", octaves=3, steps_per_octave=4,
              progress=lambda done, total: seen.append((done, total)))
    assert seen == [(done, 12) for done in range(1, 13)]
