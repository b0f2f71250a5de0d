"""Learning-rate schedules against PyTorch's own schedulers where they coincide."""

from __future__ import annotations

import pytest
import torch

from cnnkit.train.config import TrainConfig
from cnnkit.train.schedule import lr_factor, make_scheduler


def _lrs(scheduler: torch.optim.lr_scheduler.LRScheduler, optimizer: torch.optim.Optimizer, steps: int) -> list[float]:
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def _optimizer() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)


def test_cosine_equals_torch_cosine_annealing() -> None:
    config = TrainConfig(epochs=4, schedule="cosine", lr=0.1)
    ours_opt, ref_opt = _optimizer(), _optimizer()
    ours = make_scheduler(ours_opt, steps_per_epoch=10, config=config)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(ref_opt, T_max=40)
    assert _lrs(ours, ours_opt, 40) == pytest.approx(_lrs(ref, ref_opt, 40), abs=1e-12)


def test_step_equals_torch_step_lr() -> None:
    config = TrainConfig(epochs=9, schedule="step", step_epochs=3, step_gamma=0.5, lr=0.1)
    ours_opt, ref_opt = _optimizer(), _optimizer()
    ours = make_scheduler(ours_opt, steps_per_epoch=5, config=config)
    ref = torch.optim.lr_scheduler.StepLR(ref_opt, step_size=15, gamma=0.5)
    assert _lrs(ours, ours_opt, 45) == pytest.approx(_lrs(ref, ref_opt, 45), abs=1e-12)


def test_warmup_is_linear_then_constant() -> None:
    config = TrainConfig(epochs=3, schedule="constant", warmup_epochs=1)
    factors = [lr_factor(s, steps_per_epoch=4, config=config) for s in range(12)]
    assert factors[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert factors[4:] == [1.0] * 8


def test_onecycle_rises_to_peak_then_falls_to_zero() -> None:
    config = TrainConfig(epochs=4, schedule="onecycle")
    factors = [lr_factor(s, steps_per_epoch=25, config=config) for s in range(101)]
    peak = factors.index(max(factors))
    assert max(factors) == 1.0 and peak == 25          # a quarter of the 100 steps
    assert factors[0] == pytest.approx(0.1)
    assert all(a <= b for a, b in zip(factors[:peak], factors[1 : peak + 1]))
    assert all(a >= b for a, b in zip(factors[peak:], factors[peak + 1 :]))
    assert factors[100] == 0.0
