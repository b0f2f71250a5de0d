"""Iterative least-likely class method (Kurakin et al., 2017, section 2.3) against the paper's iteration."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnkit.attacks import LeastLikely, least_likely_class
from cnnkit.errors import ConfigError


def _paper_ll(model, x, *, eps, alpha, steps):
    with torch.no_grad():
        y_ll = torch.softmax(model(x), 1).argmin(1)  # argmin_y p(y | X)
    x_adv = x.clone()
    for _ in range(steps):
        x_adv = x_adv.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y_ll, reduction="sum"), x_adv)
        moved = x_adv.detach() - alpha * grad.sign()
        x_adv = torch.clamp(torch.minimum(torch.maximum(moved, x - eps), x + eps), 0, 1)
    return x_adv, y_ll


def test_least_likely_matches_the_papers_iteration(digits_batch):
    model, x, y = digits_batch
    result = LeastLikely(eps=0.2, alpha=0.02, steps=12)(model, x, y)
    expected, y_ll = _paper_ll(model, x, eps=0.2, alpha=0.02, steps=12)
    torch.testing.assert_close(result.x_adv, expected, atol=1e-6, rtol=0)
    assert torch.equal(least_likely_class(model, x), y_ll)
    # Judged like the paper's accuracy figures: success = no longer the true class.
    assert result.target is None
    assert torch.equal(result.success, result.adv_pred != y)
    assert result.adv_accuracy == pytest.approx(float((result.adv_pred == y).float().mean()))
    # It aims at y_LL: it lands there far more often than untargeted BIM with the same budget does.
    from cnnkit.attacks import BIM

    untargeted = BIM(eps=0.2, alpha=0.02, steps=12)(model, x, y)
    hits, bim_hits = (float((r.adv_pred == y_ll).float().mean()) for r in (result, untargeted))
    assert hits > 0.25 and hits > 2 * bim_hits
    assert torch.equal(result.queries, torch.full((len(x),), 13, dtype=torch.long))  # y_LL's forward + 12 steps


def test_least_likely_refuses_a_target(digits_batch):
    model, x, y = digits_batch
    with pytest.raises(ConfigError, match="untargeted only"):
        LeastLikely(eps=0.1)(model, x[:2], y[:2], target=torch.tensor([1, 2]))


def test_least_likely_keeps_bims_defaults():
    assert LeastLikely(eps=16 / 255).num_steps == 20
    assert LeastLikely(eps=16 / 255).alpha == pytest.approx(1 / 255)
