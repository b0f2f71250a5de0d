"""Learning-rate schedules as a factor of the peak rate at each optimisation step.

``constant``, ``step`` (divide by 1/gamma every few epochs) and ``cosine`` (Loshchilov &
Hutter, 2017, arXiv:1608.03983) can start with a linear warm-up (Goyal et al., 2017,
arXiv:1706.02677). ``onecycle`` (Smith & Topin, 2019, arXiv:1708.07120) rises linearly
from a tenth of the peak to the peak, by default over the first quarter of training or
over the warm-up epochs when given, then falls linearly to zero.
"""

from __future__ import annotations

import math

import torch

from cnnkit.train.config import TrainConfig

__all__ = ["lr_factor", "make_scheduler"]


def lr_factor(step: int, *, steps_per_epoch: int, config: TrainConfig) -> float:
    """Multiplier of the peak learning rate at optimisation ``step`` (0-based)."""
    total = config.epochs * steps_per_epoch
    warmup = round(config.warmup_epochs * steps_per_epoch)
    if config.schedule == "onecycle":
        peak = warmup if warmup > 0 else max(1, round(0.25 * total))
        if step < peak:
            return 0.1 + 0.9 * step / peak
        return max(0.0, (total - step) / max(1, total - peak))
    if step < warmup:
        return (step + 1) / warmup
    if config.schedule == "constant":
        return 1.0
    if config.schedule == "step":
        return config.step_gamma ** (step // (config.step_epochs * steps_per_epoch))
    progress = (step - warmup) / max(1, total - warmup)  # cosine
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_scheduler(
    optimizer: torch.optim.Optimizer, *, steps_per_epoch: int, config: TrainConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step LambdaLR following ``lr_factor``."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, steps_per_epoch=steps_per_epoch, config=config)
    )
