"""Loss landscapes (Li et al., 2018): filter normalisation, the grid against plain forward passes."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnkit.errors import ConfigError
from cnnkit.explain.landscape import (
    LandscapeConfig,
    LandscapeResult,
    filter_normalized_direction,
    loss_line,
    loss_surface,
)


def _model() -> nn.Module:
    """Conv (with bias), BatchNorm with non-trivial statistics, ReLU, and a linear head."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 3),
    )
    bn = model[1]
    bn.running_mean.uniform_(-0.2, 0.2)
    bn.running_var.uniform_(0.5, 2.0)
    bn.weight.data.uniform_(0.5, 1.5)
    model[5].weight.data.mul_(10)  # confident logits, so a step in weight space shows in the loss
    return model.eval()


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (40, 1, 8, 8), generator=generator, dtype=torch.uint8)
    return x, torch.randint(0, 3, (40,), generator=generator)


def _plain_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Independent reference: one forward pass in eval mode and F.cross_entropy."""
    model = copy.deepcopy(model).eval()
    with torch.no_grad():
        logits = model(x.float() / 255)
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).sum().item() / len(y)


def test_direction_filters_have_the_weights_norms_and_biases_and_batchnorm_get_zero() -> None:
    model = _model()
    direction = filter_normalized_direction(model, generator=torch.Generator().manual_seed(3))
    checked = 0
    for (name, p), d in zip(model.named_parameters(), direction):
        assert d.shape == p.shape, name
        if p.dim() <= 1:  # conv bias, BatchNorm weight and bias, linear bias
            assert torch.count_nonzero(d) == 0, name
            continue
        for i in range(p.shape[0]):  # one filter at a time
            torch.testing.assert_close(d[i].norm(), p[i].detach().norm(), rtol=1e-5, atol=0)
        # a rescaled random filter, not the weights themselves
        cosine = F.cosine_similarity(d.flatten(), p.detach().flatten(), dim=0)
        assert abs(float(cosine)) < 0.9, name
        checked += 1
    assert checked == 2  # the conv and the linear weight
    # the paper's procedure, one filter at a time from the global generator (net_plotter.py,
    # create_random_direction with norm='filter', ignore='biasbn'), draws the same direction
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        reference = [torch.randn(p.size()) for p in model.parameters()]
    for r, p, d in zip(reference, model.parameters(), direction):
        if r.dim() <= 1:
            r.fill_(0)
        else:
            for r_i, w_i in zip(r, p.detach()):
                r_i.mul_(w_i.norm() / (r_i.norm() + 1e-10))
        torch.testing.assert_close(d, r, rtol=1e-6, atol=1e-7)
    # BatchNorm's running statistics are buffers: no direction at all
    assert len(direction) == len(list(model.parameters()))


def test_loss_at_the_origin_is_the_models_own_loss(data) -> None:
    model = _model()
    x, y = data
    result = loss_line(model, (x, y), points=5, subset=None, batch_size=16)
    assert float(result.alphas[2]) == 0.0
    loss, accuracy = _plain_loss(model, x, y)
    assert result.center() == pytest.approx((loss, accuracy), rel=1e-6, abs=1e-7)
    assert result.loss.shape == result.accuracy.shape == (5,)


def test_off_centre_point_matches_weights_moved_by_hand(data) -> None:
    model = _model()
    x, y = data
    result = loss_surface(model, (x, y), points=3, span=(-0.5, 0.75), subset=25, batch_size=10, seed=4)
    # the same directions and the same images, drawn the documented way
    generator = torch.Generator().manual_seed(4)
    d1 = filter_normalized_direction(model, generator=generator)
    d2 = filter_normalized_direction(model, generator=generator)
    chosen = torch.randperm(len(y), generator=torch.Generator().manual_seed(4))[:25]
    alpha, beta = -0.5, 0.75  # loss[0, 2]
    moved = copy.deepcopy(model)
    with torch.no_grad():
        for p, a, b in zip(moved.parameters(), d1, d2):
            p.copy_(p + alpha * a + beta * b)
    loss, accuracy = _plain_loss(moved, x[chosen], y[chosen])
    assert float(result.alphas[0]) == alpha and float(result.betas[2]) == beta
    assert float(result.loss[0, 2]) == pytest.approx(loss, rel=1e-6)
    assert float(result.accuracy[0, 2]) == pytest.approx(accuracy, abs=1e-9)
    assert abs(loss - _plain_loss(model, x[chosen], y[chosen])[0]) > 1e-3  # the weights did move


def test_callers_model_is_bitwise_unchanged_mode_and_flags_included(data) -> None:
    model = _model().train()
    model[0].weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss_surface(model, data, points=3, subset=20, batch_size=8)
    after = model.state_dict()
    for key, value in before.items():
        assert torch.equal(value, after[key]) and value.dtype == after[key].dtype, key
    assert all(m.training for m in model.modules())  # BatchNorm statistics untouched: evaluated in eval mode
    assert [p.requires_grad for p in model.parameters()] == [False] + [True] * 5


def test_seed_repeats_and_changes_the_directions(data) -> None:
    model = _model()
    first = loss_line(model, data, points=5, subset=30, seed=7)
    again = loss_line(model, data, points=5, subset=30, seed=7)
    other = loss_line(model, data, points=5, subset=30, seed=8)
    assert torch.equal(first.loss, again.loss) and torch.equal(first.accuracy, again.accuracy)
    assert not torch.equal(first.loss, other.loss)


def test_batch_size_and_pixel_format_do_not_change_the_result(data) -> None:
    model = _model()
    x, y = data
    small = loss_surface(model, (x, y), points=3, subset=None, batch_size=3)
    large = loss_surface(model, (x, y), points=3, subset=None, batch_size=40)
    floats = loss_surface(model, (x.float() / 255, y), points=3, subset=None, batch_size=40)
    torch.testing.assert_close(small.loss, large.loss, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(small.accuracy, large.accuracy, rtol=0, atol=1e-9)
    assert torch.equal(floats.loss, large.loss)


def test_result_round_trips_through_json(data, tmp_path) -> None:
    result = loss_surface(_model(), data, points=3, subset=10)
    loaded = LandscapeResult.load(result.save(tmp_path / "l.json"))
    assert torch.equal(loaded.loss, result.loss) and torch.equal(loaded.accuracy, result.accuracy)
    assert torch.equal(loaded.alphas, result.alphas) and torch.equal(loaded.betas, result.betas)
    assert loaded.config == result.config and loaded.images == 10 and loaded.model == "Sequential"
    border = torch.ones(3, 3, dtype=torch.bool)
    border[1, 1] = False
    assert loaded.edge() == pytest.approx(float(result.loss[border].mean()), rel=1e-12)


def test_digits_run_sits_in_a_basin(digits_run) -> None:
    from cnnkit.runs import dataset_for, open_model

    run = open_model(digits_run)
    result = loss_line(run.model, dataset_for(run), points=5, subset=200)
    centre, _ = result.center()
    assert centre < float(result.loss[0]) and centre < float(result.loss[-1])
    assert result.images == 200


@pytest.mark.parametrize("kwargs, words", [
    ({"points": 1}, "points"), ({"span": (1.0, -1.0)}, "span"), ({"span": (0, float("inf"))}, "span"),
    ({"span": (1,)}, "span"), ({"subset": 0}, "subset"), ({"batch_size": 0}, "batch_size"), ({"dims": 3}, "dims"),
])
def test_bad_settings_are_refused(kwargs, words) -> None:
    with pytest.raises(ConfigError, match=words):
        LandscapeConfig(**kwargs)


def test_default_points_follow_the_paper() -> None:
    assert LandscapeConfig(dims=1).points == 51 and LandscapeConfig(dims=2).points == 21
