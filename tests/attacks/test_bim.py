"""BIM (Kurakin et al., 2017, section 2.2) against the paper's iteration written out with its Clip_{X,eps}."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnkit.attacks import BIM, PGD
from cnnkit.errors import ConfigError


def _paper_bim(model, x, y, *, eps, alpha, steps):
    """X_0 = X; X_{N+1} = Clip_{X,eps}{X_N + alpha sign(grad J(X_N, y))} with the paper's min/max Clip."""
    x_adv = x.clone()
    for _ in range(steps):
        x_adv = x_adv.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y, reduction="sum"), x_adv)
        moved = x_adv.detach() + alpha * grad.sign()
        x_adv = torch.minimum(torch.minimum(torch.ones_like(x), x + eps),
                              torch.maximum(torch.maximum(torch.zeros_like(x), x - eps), moved))
    return x_adv


def test_bim_matches_the_papers_iteration(digits_batch):
    model, x, y = digits_batch
    result = BIM(eps=0.1, alpha=0.02, steps=7)(model, x, y)
    torch.testing.assert_close(result.x_adv, _paper_bim(model, x, y, eps=0.1, alpha=0.02, steps=7), atol=1e-6, rtol=0)
    assert torch.equal(result.queries, torch.full((len(x),), 7, dtype=torch.long))


@pytest.mark.parametrize("eps255,steps", [(16, 20), (8, 10), (4, 5), (2, 3), (1, 2), (32, 36)])
def test_default_steps_follow_the_paper(eps255, steps):
    # min(eps + 4, 1.25 eps) in 0..255 units, rounded up: 16 -> 20, 8 -> 10, 32 -> 36.
    assert BIM(eps=eps255 / 255).num_steps == steps


def test_bim_is_pgd_without_random_start(digits_batch):
    model, x, y = digits_batch
    bim = BIM(eps=0.1, steps=6)(model, x, y)
    pgd = PGD(eps=0.1, alpha=1 / 255, steps=6, random_start=False)(model, x, y)
    assert torch.equal(bim.x_adv, pgd.x_adv)


def test_bim_fools_more_than_fgsm_at_the_same_eps(digits_batch):
    from cnnkit.attacks import FGSM

    model, x, y = digits_batch
    assert BIM(eps=0.1, alpha=0.01, steps=12)(model, x, y).adv_accuracy <= FGSM(eps=0.1)(model, x, y).adv_accuracy


@pytest.mark.parametrize("kwargs,match", [({"eps": -1e-3}, "eps"), ({"eps": 1.01}, "eps"),
                                          ({"alpha": 0}, "alpha"), ({"steps": 0}, "steps")])
def test_bim_refuses_bad_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        BIM(**kwargs)
