"""The shared gradient-ascent loop and its regularisers, each against an independent reference."""

from __future__ import annotations

import pytest
import torch
from scipy import ndimage
from torch import nn

from cnnkit.errors import ConfigError
from cnnkit.explain.synthesis.ascent import (
    AscentConfig,
    ascend,
    gaussian_blur,
    image_centre,
    l2_penalty,
    project_norm,
    total_variation,
)
from cnnkit.layers.normalize import Normalize


def _tv_loop(x: torch.Tensor, beta: float) -> torch.Tensor:
    n, c, h, w = x.shape
    out = torch.zeros(n, dtype=x.dtype)
    for k in range(n):
        for ch in range(c):
            for i in range(h - 1):
                for j in range(w - 1):
                    d2 = (x[k, ch, i, j + 1] - x[k, ch, i, j]) ** 2 + (x[k, ch, i + 1, j] - x[k, ch, i, j]) ** 2
                    out[k] += d2 if beta == 2 else (d2 + 1e-8) ** (beta / 2)
    return out


@pytest.mark.parametrize("beta", [2.0, 1.5, 1.0])
def test_total_variation_matches_a_loop(beta: float) -> None:
    x = torch.rand(2, 3, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(total_variation(x, beta), _tv_loop(x, beta))


def test_l2_penalty_is_the_squared_distance_to_the_centre() -> None:
    x = torch.rand(3, 2, 4, 4, dtype=torch.float64)
    centre = torch.tensor([0.2, 0.7], dtype=torch.float64).view(1, 2, 1, 1)
    expected = torch.stack([((x[k] - centre[0]) ** 2).sum() for k in range(3)])
    torch.testing.assert_close(l2_penalty(x, centre), expected)


@pytest.mark.parametrize(("sigma", "shape"), [(0.5, (2, 1, 8, 8)), (1.0, (1, 3, 9, 7)), (2.5, (1, 1, 5, 6))])
def test_gaussian_blur_matches_scipy(sigma: float, shape: tuple[int, ...]) -> None:
    x = torch.rand(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    # scipy's 'mirror' border is ours (d c b | a b c d); blur only the two image axes
    expected = ndimage.gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma), mode="mirror", truncate=4.0)
    torch.testing.assert_close(gaussian_blur(x, sigma), torch.from_numpy(expected))


def test_project_norm_puts_every_example_on_the_sphere() -> None:
    x = torch.rand(4, 1, 6, 6, dtype=torch.float64)
    centre = 0.3
    free = project_norm(x, 2.0, centre)
    torch.testing.assert_close((free - centre).flatten(1).norm(dim=1), torch.full((4,), 2.0, dtype=torch.float64))
    # with the box: the ball ||x - c|| <= rho inside [0, 1]; points inside it stay where they are
    boxed = project_norm(x, 2.0, centre, box=True)
    assert boxed.min() >= 0 and boxed.max() <= 1
    assert ((boxed - centre).flatten(1).norm(dim=1) <= 2.0 + 1e-9).all()
    inside = project_norm(x, 100.0, centre, box=True)
    torch.testing.assert_close(inside, x)
    length = (x - centre).flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    scaled = centre + (x - centre) * torch.minimum(2.0 / length, torch.ones_like(length))
    torch.testing.assert_close(boxed, scaled.clamp(0, 1))


def _tiny_model() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(4, 3, 3, padding=1),
                        nn.Flatten(), nn.Linear(3 * 6 * 6, 5))
    return nn.Sequential(Normalize([0.4], [0.3]), net).double()


def test_ascend_keeps_the_norm_and_leaves_the_model_as_found() -> None:
    model = _tiny_model().train()
    model[1][0].weight.requires_grad_(False)
    x0 = torch.rand(3, 1, 6, 6, dtype=torch.float64)
    config = AscentConfig(steps=15, lr=0.05, norm=1.5, jitter=1, blur_every=3, tv=0.01, l2=0.01, box=False)
    x = ascend(model, x0, lambda x: model(x)[:, 2], config)
    centre = image_centre(model, x0)
    torch.testing.assert_close((x - centre).flatten(1).norm(dim=1), torch.full((3,), 1.5, dtype=torch.float64))
    boxed = ascend(model, x0, lambda x: model(x)[:, 2], AscentConfig(steps=15, lr=0.05, norm=1.5))
    assert boxed.min() >= 0 and boxed.max() <= 1
    assert ((boxed - centre).flatten(1).norm(dim=1) <= 1.5 + 1e-9).all()
    assert all(m.training for m in model.modules())
    assert not model[1][0].weight.requires_grad and model[1][0].bias.requires_grad
    assert model[1][0].weight.grad is None and model[1][0].bias.grad is None


def test_progress_is_called_with_steps_done_and_steps_in_all() -> None:
    """The one progress signature of cnnkit.explain: progress(done, total), as the landscape grid calls it."""
    model = _tiny_model()
    seen: list[tuple[int, int]] = []
    ascend(model, torch.rand(2, 1, 6, 6, dtype=torch.float64), lambda x: model(x)[:, 0], AscentConfig(steps=4),
           progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]

def test_one_normalised_sgd_step_matches_plain_autograd() -> None:
    """DeepDream's step x + lr g / mean|g|, per example, against torch.autograd.grad."""
    model = _tiny_model()
    x0 = torch.rand(2, 1, 6, 6, dtype=torch.float64) * 0.5 + 0.25
    x = ascend(model, x0, lambda x: model(x)[:, 1], AscentConfig(steps=1, lr=0.01, optimizer="sgd",
                                                                  normalize_grad=True, box=False))
    leaf = x0.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(leaf)[:, 1].sum(), leaf)
    expected = x0 + 0.01 * g / g.abs().flatten(1).mean(1).view(-1, 1, 1, 1)
    torch.testing.assert_close(x, expected)


def test_penalties_enter_the_gradient() -> None:
    """With a zero objective, one SGD step is exactly -lr times the penalties' gradient."""
    model = _tiny_model()
    x0 = torch.rand(2, 1, 6, 6, dtype=torch.float64)
    config = AscentConfig(steps=1, lr=0.1, optimizer="sgd", l2=0.5, tv=0.2, tv_beta=1.5, box=False)
    x = ascend(model, x0, lambda x: x.sum((1, 2, 3)) * 0, config, centre=0.4)
    leaf = x0.clone().requires_grad_(True)
    (g,) = torch.autograd.grad((0.5 * ((leaf - 0.4) ** 2).sum() + 0.2 * _tv_loop(leaf, 1.5).sum()), leaf)
    torch.testing.assert_close(x, x0 - 0.1 * g)


def test_a_batch_equals_its_examples_one_by_one() -> None:
    model = _tiny_model()
    x0 = torch.rand(3, 1, 6, 6, dtype=torch.float64)
    config = AscentConfig(steps=10, lr=0.05, jitter=2, blur_every=2, norm=2.0, seed=3)
    targets = torch.tensor([0, 3, 4])
    batch = ascend(model, x0, lambda x: model(x).gather(1, targets[:, None])[:, 0], config)
    for k in range(3):
        one = ascend(model, x0[k:k + 1], lambda x, k=k: model(x)[:, targets[k]], config)
        torch.testing.assert_close(batch[k:k + 1], one)


@pytest.mark.parametrize("bad", [dict(steps=-1), dict(lr=0.0), dict(optimizer="lbfgs"), dict(l2=-1.0),
                                 dict(tv_beta=0.5), dict(jitter=-2), dict(blur_every=-1), dict(blur_sigma=0.0),
                                 dict(norm=0.0)])
def test_config_refuses_bad_values(bad: dict) -> None:
    with pytest.raises(ConfigError):
        AscentConfig(**bad)


def test_objective_must_score_each_example() -> None:
    model = _tiny_model()
    with pytest.raises(ConfigError, match="one score per image"):
        ascend(model, torch.rand(2, 1, 6, 6, dtype=torch.float64), lambda x: model(x).sum(), AscentConfig(steps=1))
