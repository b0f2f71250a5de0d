"""Box-constrained L-BFGS: smaller perturbations than FGSM's smallest fooling eps, targeted hits, the box."""

from __future__ import annotations

import pytest
import torch

from cnnkit.attacks import FGSM, LBFGS
from cnnkit.errors import ConfigError
from cnnkit.runs import open_model, sample_images

pytestmark = pytest.mark.usefixtures("one_thread")



def smallest_fgsm_l2(model, x, y) -> torch.Tensor:
    """Per image, the L2 norm of FGSM at the smallest eps of a 0.02-step grid that fools it (inf: none does)."""
    best = torch.full((len(x),), float("inf"))
    for eps in reversed([0.02 * k for k in range(1, 26)]):
        result = FGSM(eps=eps)(model, x, y)
        best = torch.where(result.success, result.l2, best)
    return best


def test_untargeted_beats_fgsm_and_stays_in_the_box(digits_run) -> None:
    run = open_model(digits_run)
    x, y = sample_images(run, 16, seed=0)
    result = LBFGS(steps=10, search_steps=4)(run.model, x, y)
    fgsm = smallest_fgsm_l2(run.model, x, y)
    both = result.success & torch.isfinite(fgsm) & result.clean_pred.eq(y)
    assert both.sum() >= 8
    assert result.l2[both].mean() < fgsm[both].mean()
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1


def test_targeted_reaches_the_target_and_search_shrinks_the_norm(digits_run) -> None:
    run = open_model(digits_run)
    x, y = sample_images(run, 8, seed=2)
    target = (y + 3) % 10
    one = LBFGS(steps=10, search_steps=1)(run.model, x, y, target=target)
    searched = LBFGS(steps=10, search_steps=4)(run.model, x, y, target=target)
    assert searched.success.float().mean() >= 0.75
    assert torch.equal(searched.adv_pred[searched.success], target[searched.success])
    # the search keeps the smallest successful r seen, so it never does worse than its first c
    both = one.success & searched.success
    assert (searched.l2[both] <= one.l2[both] + 1e-5).all()


def test_leaves_the_model_as_it_was(digits_run) -> None:
    run = open_model(digits_run)
    run.model.train()
    x, y = sample_images(run, 4, seed=1)
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    LBFGS(steps=3, search_steps=1)(run.model, x, y)
    assert run.model.training
    assert all(torch.equal(before[k], v) for k, v in run.model.state_dict().items())


@pytest.mark.parametrize("kwargs", [{"c": 0}, {"steps": 0}, {"search_steps": 0}, {"margin": -1}])
def test_refuses_bad_settings(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        LBFGS(**kwargs)
