"""Universal perturbations: the norm bound, the target fooling rate (batched and the paper's loop), the rate itself."""

from __future__ import annotations

import pytest
import torch

from cnnkit.attacks import Perturbation, UniversalPerturbation, fooling_rate
from cnnkit.errors import ConfigError
from cnnkit.runs import open_model, sample_images

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(("norm", "xi", "batch_size"), [("inf", 0.5, 16), ("2", 2.5, 16), ("inf", 0.5, 1)])
def test_reaches_the_target_rate_inside_the_ball(digits_run, norm: str, xi: float, batch_size: int) -> None:
    run = open_model(digits_run)
    x, _ = sample_images(run, 48, seed=0)
    universal = UniversalPerturbation(xi=xi, norm=norm, fooling_target=0.5, max_passes=5, deepfool_steps=10,
                                      batch_size=batch_size)
    v = universal.fit(run.model, x)
    size = v.abs().max() if norm == "inf" else v.norm()
    assert v.shape == x.shape[1:] and float(size) <= xi + 1e-5
    # the rate is the brute-force one: labels that change under clip(x + v)
    with torch.no_grad():
        changed = [int(run.model(x[i : i + 1]).argmax()) != int(run.model((x[i : i + 1] + v).clamp(0, 1)).argmax())
                   for i in range(len(x))]
    rate = fooling_rate(run.model, x, v)
    assert rate == pytest.approx(sum(changed) / len(x)) and rate >= 0.5


def test_progress_counts_the_images_visited_over_all_passes(digits_run) -> None:
    run = open_model(digits_run)
    x, _ = sample_images(run, 20, seed=0)
    calls: list[tuple[int, int]] = []
    # out of reach (a tiny ball, every image to fool): both passes run to the end, batches of 8, 8, 4
    UniversalPerturbation(xi=0.01, fooling_target=1.0, max_passes=2, deepfool_steps=2, batch_size=8).fit(
        run.model, x, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(8, 40), (16, 40), (20, 40), (28, 40), (36, 40), (40, 40)]
    # reached in the first pass: the last call says the fit is complete, done == total
    calls.clear()
    universal = UniversalPerturbation(xi=0.5, fooling_target=0.05, max_passes=3, batch_size=8)
    v = universal.fit(run.model, x, progress=lambda done, total: calls.append((done, total)))
    assert fooling_rate(run.model, x, v) >= 0.05
    assert calls == [(8, 60), (16, 60), (20, 60), (20, 20)]


def test_a_small_ball_is_respected_even_when_the_target_is_out_of_reach(digits_run) -> None:
    run = open_model(digits_run)
    run.model.train()
    x, _ = sample_images(run, 16, seed=1)
    v = UniversalPerturbation(xi=0.01, norm="inf", fooling_target=1.0, max_passes=2, deepfool_steps=3).fit(run.model, x)
    assert float(v.abs().max()) <= 0.01 + 1e-7
    assert run.model.training and all(p.requires_grad and p.grad is None for p in run.model.parameters())


def test_perturbation_applies_v_as_an_attack(digits_run) -> None:
    run = open_model(digits_run)
    run.model.train()
    x, y = sample_images(run, 8, seed=2)
    v = torch.linspace(-0.5, 0.5, x[0].numel()).view(x.shape[1:])
    result = Perturbation(delta=v)(run.model, x, y)
    assert torch.equal(result.x_adv, (x + v).clamp(0, 1))
    torch.testing.assert_close(result.l2, ((x + v).clamp(0, 1) - x).flatten(1).norm(dim=1))
    assert run.model.training
    with pytest.raises(ConfigError):
        Perturbation(delta=v[0])


@pytest.mark.parametrize("kwargs", [{"norm": "1"}, {"xi": -1.0}, {"fooling_target": 0}, {"max_passes": 0},
                                    {"batch_size": 0}])
def test_refuses_bad_settings(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        UniversalPerturbation(**kwargs)
