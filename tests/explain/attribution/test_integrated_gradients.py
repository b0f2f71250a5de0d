"""Integrated Gradients (Sundararajan et al., 2017) against quadrature sums written in the test,
an exactly linear model, and completeness on a trained network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnnkit.errors import ConfigError
from cnnkit.explain.attribution.paths import completeness_error, integrated_gradients


def _explicit_ig(reference, model, x, target, baseline, alphas, weights):
    """sum_k w_k dS/dx(x' + a_k (x - x')) * (x - x'), one image and one step at a time."""
    out = torch.zeros_like(x)
    for n in range(x.shape[0]):
        for a, w in zip(alphas, weights):
            point = (baseline[n] + a * (x[n] - baseline[n]))[None].requires_grad_(True)
            grad = torch.autograd.grad(reference(model, point)[0, target[n]], point)[0][0]
            out[n] += w * grad
        out[n] *= x[n] - baseline[n]
    return out


@pytest.mark.parametrize("method", ["riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"])
def test_ig_equals_the_explicit_sum(reuse_model, reuse_images, reference, method):
    model, x = reuse_model.double(), reuse_images.double()
    target = torch.tensor([0, 1, 2, 2, 1])
    steps = 6
    if method == "riemann_right":
        alphas, weights = [k / steps for k in range(1, steps + 1)], [1 / steps] * steps
    elif method == "riemann_middle":  # the default
        alphas, weights = [(k + 0.5) / steps for k in range(steps)], [1 / steps] * steps
    elif method == "riemann_trapezoid":
        alphas = [k / (steps - 1) for k in range(steps)]
        weights = [0.5 / (steps - 1)] + [1 / (steps - 1)] * (steps - 2) + [0.5 / (steps - 1)]
    else:
        nodes, w = np.polynomial.legendre.leggauss(steps)
        alphas, weights = ((nodes + 1) / 2).tolist(), (w / 2).tolist()
    baseline = torch.full_like(x, 0.25)
    expected = _explicit_ig(reference, model, x, target, baseline, alphas, weights)
    chosen = {} if method == "riemann_middle" else {"method": method}
    ours = integrated_gradients(model, x, target, baseline=0.25, steps=steps, batch_size=7, **chosen)
    assert torch.allclose(ours, expected, atol=1e-10, rtol=0)
    # float32 agrees with the float64 sum to 1e-6
    ours32 = integrated_gradients(reuse_model, reuse_images, target, baseline=baseline[0].float(), steps=steps,
                                  method=method)
    assert torch.allclose(ours32.double(), expected, atol=1e-6, rtol=1e-5)


def test_linear_model_is_exact_and_complete():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4)).double()
    x = torch.rand(3, 3, 2, 2, dtype=torch.float64)
    ig = integrated_gradients(model, x, 2, steps=2)
    assert torch.allclose(ig, x * model[1].weight[2].view(3, 2, 2), atol=1e-12)
    assert completeness_error(model, x, 2, ig).max() < 1e-12
    gap = model(x)[:, 2] - model(torch.zeros_like(x))[:, 2]
    bad = ig * 1.1
    assert torch.allclose(completeness_error(model, x, 2, bad), (bad.flatten(1).sum(1) - gap).abs() / gap.abs())


def test_completeness_on_a_trained_network(digits_run):
    from cnnkit.runs import open_model, sample_images

    run = open_model(digits_run)
    x, y = sample_images(run, 24, seed=0)
    ig = integrated_gradients(run.model, x, y, steps=64)
    error = completeness_error(run.model, x, y, ig)
    assert error.median() < 0.01
    assert error.mean() < 0.05
    # fewer steps approximate the integral worse
    coarse = completeness_error(run.model, x, y, integrated_gradients(run.model, x, y, steps=2))
    assert coarse.mean() > error.mean()


def test_errors_and_model_state(reuse_model, reuse_images):
    reuse_model.train()
    with pytest.raises(ConfigError, match="method"):
        integrated_gradients(reuse_model, reuse_images, 0, method="simpson")
    with pytest.raises(ConfigError, match="steps"):
        integrated_gradients(reuse_model, reuse_images, 0, steps=0)
    with pytest.raises(ConfigError, match="broadcast"):
        integrated_gradients(reuse_model, reuse_images, 0, baseline=torch.zeros(3, 6, 6))
    with pytest.raises(ConfigError, match="out of range"):
        integrated_gradients(reuse_model, reuse_images, torch.tensor([0, 1, 2, 3, 0]))
    integrated_gradients(reuse_model, reuse_images, 0, steps=3)
    assert reuse_model.training and all(p.requires_grad and p.grad is None for p in reuse_model.parameters())
