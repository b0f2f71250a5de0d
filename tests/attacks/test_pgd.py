"""PGD against an independent implementation (Madry et al., 2018): same random start drawn from the
same seed, then plain-autograd steps, projection onto the L-inf or L2 ball and the pixel box."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnkit.attacks import PGD
from cnnkit.errors import ConfigError


def _start(x, eps, norm, seed):
    generator = torch.Generator().manual_seed(seed)
    if norm == "inf":
        noise = (torch.rand(x.shape, generator=generator) * 2 - 1) * eps
    else:
        direction = torch.randn(x.shape, generator=generator)
        direction = direction / direction.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        radius = torch.rand(len(x), generator=generator) ** (1 / x[0].numel())
        noise = direction * (radius * eps).view(-1, 1, 1, 1)
    return (x + noise).clamp(0, 1)


def _reference_pgd(model, x, y, *, eps, norm, alpha, steps, seed):
    x_adv = _start(x, eps, norm, seed)
    for _ in range(steps):
        x_adv = x_adv.clone().requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x_adv)
        if norm == "inf":
            x_adv = x_adv.detach() + alpha * grad.sign()
            delta = torch.max(torch.min(x_adv - x, torch.tensor(eps)), torch.tensor(-eps))
        else:
            g = grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            x_adv = x_adv.detach() + alpha * grad / g
            delta = x_adv - x
            d = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            delta = torch.where(d > eps, delta * eps / d, delta)
        x_adv = (x + delta).clamp(0, 1)
    return x_adv


@pytest.mark.parametrize("norm,eps", [("inf", 0.1), ("2", 1.0)])
def test_pgd_matches_an_independent_loop(digits_batch, norm, eps):
    model, x, y = digits_batch
    attack = PGD(norm=norm, eps=eps, alpha=eps / 4, steps=6, seed=3)
    result = attack(model, x, y)
    expected = _reference_pgd(model, x, y, eps=eps, norm=norm, alpha=eps / 4, steps=6, seed=3)
    torch.testing.assert_close(result.x_adv, expected, atol=1e-6, rtol=0)
    assert torch.equal(result.queries, torch.full((len(x),), 6, dtype=torch.long))


def test_pgd_default_step_is_madrys_rule():
    assert PGD(eps=0.1, steps=10).step_size == pytest.approx(2.5 * 0.1 / 10)


def test_pgd_without_random_start_starts_at_x(digits_batch):
    model, x, y = digits_batch
    attack = PGD(eps=0.1, alpha=0.02, steps=3, random_start=False)
    expected = _reference_pgd(model, x, y, eps=0.1, norm="inf", alpha=0.02, steps=3, seed=0)
    # The reference always starts randomly; from x instead, the first step differs, so rebuild it from x.
    x_adv = x.clone()
    for _ in range(3):
        x_adv = x_adv.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y, reduction="sum"), x_adv)
        x_adv = (x + (x_adv.detach() + 0.02 * grad.sign() - x).clamp(-0.1, 0.1)).clamp(0, 1)
    result = attack(model, x, y)
    torch.testing.assert_close(result.x_adv, x_adv, atol=1e-6, rtol=0)
    assert not torch.allclose(result.x_adv, expected)


@pytest.mark.parametrize("kwargs,match", [
    ({"eps": -0.1}, "eps"), ({"eps": 1.2}, "eps"), ({"norm": "1"}, "norm"),
    ({"steps": 0}, "steps"), ({"alpha": 0.0}, "alpha"),
])
def test_pgd_refuses_bad_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        PGD(**kwargs)


def test_l2_pgd_takes_an_eps_above_one():
    assert PGD(norm="2", eps=3.0).eps == 3.0
