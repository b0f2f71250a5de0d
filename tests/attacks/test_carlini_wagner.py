"""Carlini & Wagner L2: smaller perturbations than FGSM's smallest fooling eps, targeted hits, the box."""

from __future__ import annotations

import pytest
import torch

from cnnkit.attacks import FGSM, CarliniWagnerL2
from cnnkit.attacks.carlini_wagner import logit_margin
from cnnkit.errors import ConfigError
from cnnkit.runs import open_model, sample_images

pytestmark = pytest.mark.usefixtures("one_thread")


EPS_GRID = [0.02 * k for k in range(1, 26)]


def smallest_fgsm_l2(model, x, y) -> torch.Tensor:
    """Per image, the L2 norm of FGSM at the smallest eps of the grid that fools it (inf: none does)."""
    best = torch.full((len(x),), float("inf"))
    for eps in reversed(EPS_GRID):
        result = FGSM(eps=eps)(model, x, y)
        best = torch.where(result.success, result.l2, best)
    return best


def test_margin_is_the_brute_force_one() -> None:
    logits = torch.randn(6, 5)
    y, t = torch.tensor([0, 1, 2, 3, 4, 0]), torch.tensor([1, 2, 3, 4, 0, 3])
    for i in range(6):
        others = [float(logits[i, k]) for k in range(5) if k != y[i]]
        assert float(logit_margin(logits, y, None)[i]) == pytest.approx(float(logits[i, y[i]]) - max(others))
        others = [float(logits[i, k]) for k in range(5) if k != t[i]]
        assert float(logit_margin(logits, y, t)[i]) == pytest.approx(max(others) - float(logits[i, t[i]]))


def test_untargeted_beats_fgsm_and_stays_in_the_box(digits_run) -> None:
    run = open_model(digits_run)
    x, y = sample_images(run, 16, seed=0)
    result = CarliniWagnerL2(steps=40, lr=0.05, binary_search_steps=3)(run.model, x, y)
    fgsm = smallest_fgsm_l2(run.model, x, y)
    both = result.success & torch.isfinite(fgsm) & result.clean_pred.eq(y)
    assert both.sum() >= 8
    assert result.l2[both].mean() < fgsm[both].mean()
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    # a failed example comes back unchanged
    assert torch.equal(result.x_adv[~result.success & result.clean_pred.eq(y)], x[~result.success & result.clean_pred.eq(y)])


def test_targeted_reaches_the_target(digits_run) -> None:
    run = open_model(digits_run)
    x, y = sample_images(run, 8, seed=2)
    target = (y + 1) % 10
    result = CarliniWagnerL2(steps=40, lr=0.05, binary_search_steps=3)(run.model, x, y, target=target)
    assert result.success.float().mean() >= 0.75
    assert torch.equal(result.adv_pred[result.success], target[result.success])


def test_kappa_buys_a_margin(digits_run) -> None:
    run = open_model(digits_run)
    x, y = sample_images(run, 8, seed=3)
    result = CarliniWagnerL2(kappa=2.0, steps=40, lr=0.05, binary_search_steps=3)(run.model, x, y)
    with torch.no_grad():
        margin = logit_margin(run.model(result.x_adv), y, None)
    assert (margin[result.success] <= -2.0 + 1e-3).all()


@pytest.mark.parametrize("kwargs", [{"c": 0}, {"kappa": -1}, {"steps": 0}, {"lr": 0}, {"binary_search_steps": 0}])
def test_refuses_bad_settings(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        CarliniWagnerL2(**kwargs)
