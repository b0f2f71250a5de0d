"""SmoothGrad (Smilkov et al., 2017) against a loop over noisy copies written in the test."""

from __future__ import annotations

import pytest
import torch

from cnnkit.errors import ConfigError
from cnnkit.explain.attribution.gradients import saliency
from cnnkit.explain.attribution.gradients import smoothgrad, smoothgrad_gradient


def test_one_noiseless_sample_is_saliency(reuse_model, reuse_images):
    target = torch.tensor([0, 1, 2, 0, 1])
    expected = saliency(reuse_model, reuse_images, target)
    assert torch.equal(smoothgrad(reuse_model, reuse_images, target, samples=1, noise=0.0), expected)
    # several noiseless samples in uneven chunks: the per-image bookkeeping must still average to saliency
    chunked = smoothgrad(reuse_model, reuse_images, target, samples=3, noise=0.0, batch_size=4)
    assert torch.allclose(chunked, expected, atol=1e-6, rtol=0)


def test_mean_noisy_gradient_matches_an_explicit_loop(reuse_model, reuse_images, reference):
    model, x = reuse_model.double(), reuse_images.double()
    samples, noise, seed = 4, 0.2, 3
    ours = smoothgrad_gradient(model, x, 1, samples=samples, noise=noise, seed=seed, batch_size=10_000)
    draws = torch.randn((x.shape[0] * samples, *x.shape[1:]), generator=torch.Generator().manual_seed(seed),
                        dtype=torch.float64)
    expected = torch.zeros_like(x)
    for n in range(x.shape[0]):
        sigma = noise * (x[n].max() - x[n].min())
        for s in range(samples):
            noisy = (x[n] + sigma * draws[n * samples + s])[None].requires_grad_(True)
            expected[n] += torch.autograd.grad(reference(model, noisy)[0, 1], noisy)[0][0] / samples
    assert torch.allclose(ours, expected, atol=1e-10, rtol=0)
    assert torch.allclose(smoothgrad(model, x, 1, samples=samples, noise=noise, seed=seed),
                          expected.abs().amax(1), atol=1e-10, rtol=0)
    squared = smoothgrad_gradient(model, x, 1, samples=samples, noise=noise, seed=seed, squared=True)
    assert (squared >= 0).all() and torch.all(squared >= ours * ours - 1e-12)  # Jensen: E[g^2] >= E[g]^2


def test_seeds_repeat_and_differ(reuse_model, reuse_images):
    first = smoothgrad(reuse_model, reuse_images, 0, samples=5, seed=7)
    assert torch.equal(first, smoothgrad(reuse_model, reuse_images, 0, samples=5, seed=7))
    assert not torch.equal(first, smoothgrad(reuse_model, reuse_images, 0, samples=5, seed=8))


def test_model_left_as_found_and_bad_options_refused(reuse_model, reuse_images):
    reuse_model.train()
    smoothgrad(reuse_model, reuse_images, 2, samples=2)
    assert reuse_model.training and all(p.requires_grad and p.grad is None for p in reuse_model.parameters())
    for kwargs in ({"samples": 0}, {"noise": -0.1}, {"batch_size": 0}):
        with pytest.raises(ConfigError):
            smoothgrad(reuse_model, reuse_images, 0, **kwargs)
    with pytest.raises(ConfigError, match="out of range"):
        smoothgrad(reuse_model, reuse_images, 5)
