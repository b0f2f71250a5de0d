"""Gradient saliency (Simonyan et al., 2013) against a per-image float64 autograd loop through a
functional forward pass, and against finite differences."""

from __future__ import annotations

import pytest
import torch

from cnnkit.errors import ConfigError
from cnnkit.explain.attribution.gradients import input_gradient, saliency


def _reference_gradient(reference_forward, model, x, target):
    """dS_c/dx one image at a time, through the hook-free functional forward, in float64."""
    grads = []
    for image, cls in zip(x.double(), target.tolist()):
        image = image[None].clone().requires_grad_(True)
        score = reference_forward(model, image)[0, cls]
        grads.append(torch.autograd.grad(score, image)[0][0])
    return torch.stack(grads)


def test_saliency_matches_a_per_image_autograd_loop(reuse_model, reuse_images, reference):
    model = reuse_model.double()
    x = reuse_images.double()
    target = torch.tensor([0, 1, 2, 1, 0])
    expected = _reference_gradient(reference, model, x, target)
    assert torch.allclose(input_gradient(model, x, target), expected, atol=1e-10, rtol=0)
    assert torch.allclose(saliency(model, x, target), expected.abs().amax(1), atol=1e-10, rtol=0)


def test_saliency_matches_finite_differences(reuse_model, reuse_images, reference):
    model = reuse_model.double()
    x = reuse_images[:2].double()
    grad = input_gradient(model, x, 2)
    h = 1e-6
    count, size = x.shape[0], x[0].numel()
    steps = h * torch.eye(size, dtype=torch.float64).view(size, *x.shape[1:])       # one pixel nudged per row
    with torch.no_grad():
        up = reference(model, (x[:, None] + steps).flatten(0, 1))[:, 2]
        down = reference(model, (x[:, None] - steps).flatten(0, 1))[:, 2]
    numeric = ((up - down) / (2 * h)).view(count, *x.shape[1:])
    assert torch.allclose(grad, numeric, atol=1e-6, rtol=0)


def test_float32_saliency_agrees_with_float64(reuse_model, reuse_images, reference):
    target = torch.tensor([2, 2, 0, 1, 1])
    ours = saliency(reuse_model, reuse_images, target)
    expected = _reference_gradient(reference, reuse_model.double(), reuse_images, target).abs().amax(1)
    assert torch.allclose(ours.double(), expected, atol=1e-6, rtol=1e-5)


def test_default_target_is_the_predicted_class_and_sign_is_kept(reuse_model, reuse_images):
    predicted = reuse_model(reuse_images).argmax(1)
    assert torch.equal(saliency(reuse_model, reuse_images), saliency(reuse_model, reuse_images, predicted))
    grad = input_gradient(reuse_model, reuse_images, predicted)
    signed = saliency(reuse_model, reuse_images, predicted, abs=False)
    assert torch.equal(signed.abs(), grad.abs().amax(1))
    assert (signed < 0).any() and (signed > 0).any()


def test_the_callers_model_is_left_as_it_was(reuse_model, reuse_images):
    reuse_model.train()
    reuse_model[1].fc.weight.requires_grad_(False)
    saliency(reuse_model, reuse_images, 0)
    assert all(m.training for m in reuse_model.modules())
    flags = [p.requires_grad for p in reuse_model.parameters()]
    assert flags.count(False) == 1 and len(flags) > 1
    assert all(p.grad is None for p in reuse_model.parameters())


@pytest.mark.parametrize("target, message", [
    (3, "out of range"), (-1, "out of range"), (torch.tensor([0, 1]), "shape"),
    (torch.tensor([0.0] * 5), "integer"), ("cat", "class index"),
])
def test_a_bad_target_is_one_clear_error(reuse_model, reuse_images, target, message):
    with pytest.raises(ConfigError, match=message):
        saliency(reuse_model, reuse_images, target)


def test_resnet18_with_in_place_relus_runs_and_matches_per_image():
    from cnnkit.runs import open_model

    model = open_model("resnet18", input_size=16).model
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    batched = input_gradient(model, x, torch.tensor([1, 7]))
    singles = torch.cat([input_gradient(model, x[i:i + 1], c) for i, c in enumerate([1, 7])])
    assert torch.allclose(batched, singles, atol=1e-6, rtol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_saliency_on_cuda_follows_the_model(reuse_model, reuse_images):
    ours = saliency(reuse_model.cuda(), reuse_images.cuda(), 1)
    assert ours.device.type == "cuda"
    assert torch.allclose(ours.cpu(), saliency(reuse_model.cpu(), reuse_images, 1), atol=1e-5)
