"""DeepFool against its closed form on a linear classifier and a per-example loop of the paper's algorithm."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnkit.attacks import DeepFool
from cnnkit.errors import ConfigError
from cnnkit.runs import open_model, sample_images

pytestmark = pytest.mark.usefixtures("one_thread")



def _linear(classes: int = 4, pixels: int = 16, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(pixels, classes))
    with torch.no_grad():
        model[1].weight.mul_(20)
    return model


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_linear_classifier_gets_the_distance_to_the_nearest_hyperplane(norm: str) -> None:
    model = _linear()
    torch.manual_seed(1)
    x = 0.5 + 0.02 * torch.randn(12, 1, 4, 4)                     # far from the box's faces
    y = model(x).argmax(1)
    result = DeepFool(norm=norm, overshoot=0.02)(model, x, y)
    W, b = model[1].weight.detach(), model[1].bias.detach()
    f = x.flatten(1) @ W.T + b                                    # (N, classes)
    w = W[None] - W[y][:, None]                                   # (N, classes, D): w_k - w_y
    gap = (f - f.gather(1, y[:, None])).abs()                     # (N, classes)
    dual = w.abs().sum(2) if norm == "inf" else w.norm(dim=2)
    dist = (gap / dual).scatter(1, y[:, None], float("inf"))
    nearest, k = dist.min(1)
    # one step lands (1 + overshoot) times beyond the nearest hyperplane (+1e-4 logit, as the reference code)
    expected = 1.02 * (nearest + 1e-4 / dual.gather(1, k[:, None])[:, 0])
    measured = result.linf if norm == "inf" else result.l2
    assert result.success.all()
    torch.testing.assert_close(measured, expected, rtol=1e-4, atol=1e-6)
    assert (result.queries == 2).all()                            # one step, then the check that it fooled


def _reference(model: nn.Module, x0: torch.Tensor, label: int, steps: int, overshoot: float, count: int,
               norm: str) -> tuple[torch.Tensor, int]:
    """The paper's algorithm 2 for one image, one gradient per candidate class."""
    with torch.no_grad():
        logits0 = model(x0[None])[0]
    others = [c for c in logits0.argsort(descending=True).tolist() if c != label][: count - 1]
    r_tot, x, queries = torch.zeros_like(x0), x0.clone(), 0
    for i in range(steps + 1):
        queries += 1
        with torch.no_grad():
            f = model(x[None])[0]
        if f.argmax() != label or i == steps:
            break
        best = None
        for k in others:
            z = x.clone().requires_grad_(True)
            out = model(z[None])[0]
            (w,) = torch.autograd.grad(out[k] - out[label], z)                # plain autograd, one class at a time
            gap = (f[k] - f[label]).abs()
            size = w.abs().sum() if norm == "inf" else w.norm()
            if best is None or gap / size < best[0]:
                best = (gap / size, w, gap, size)
        _, w, gap, size = best
        r_tot = r_tot + ((gap + 1e-4) / size * w.sign() if norm == "inf" else (gap + 1e-4) / size**2 * w)
        x = (x0 + (1 + overshoot) * r_tot).clamp(0, 1)
    return x, queries


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_batched_equals_a_per_example_loop(digits_run, norm: str) -> None:
    run = open_model(digits_run)
    x, y = sample_images(run, 8, seed=0)
    attack = DeepFool(norm=norm, steps=6, candidates=4)
    result = attack(run.model, x, y)
    for i in range(len(x)):
        x_ref, queries = _reference(run.model, x[i], int(y[i]), 6, 0.02, 4, norm)
        torch.testing.assert_close(result.x_adv[i], x_ref, atol=2e-5, rtol=1e-4)
        assert int(result.queries[i]) == queries
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    # already misclassified examples are left alone
    wrong = result.clean_pred.ne(y)
    assert torch.equal(result.x_adv[wrong], x[wrong])


def test_leaves_the_model_as_it_was_and_refuses_target(digits_run) -> None:
    run = open_model(digits_run)
    run.model.train()
    run.model[1].requires_grad_(True)
    x, y = sample_images(run, 4, seed=1)
    DeepFool(steps=3)(run.model, x, y)
    assert run.model.training and all(p.requires_grad for p in run.model.parameters())
    assert all(p.grad is None for p in run.model.parameters())
    with pytest.raises(ConfigError, match="untargeted"):
        DeepFool()(run.model, x, y, target=y)


@pytest.mark.parametrize("kwargs", [{"norm": "1"}, {"steps": 0}, {"overshoot": -0.1}, {"candidates": 1}])
def test_refuses_bad_settings(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        DeepFool(**kwargs)
