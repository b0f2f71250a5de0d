"""Projected gradient descent with a random start (Madry et al., 2018, arXiv:1706.06083).

From a uniform random point of the eps-ball, ``steps`` steps of size ``alpha`` along the
normalised gradient (its sign for L-inf, gradient / ||gradient||_2 for L2), each followed by
projection onto the eps-ball and the [0, 1] box. Without the random start and with the step
rule of Kurakin et al. this is BIM (bim.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from cnnkit.attacks.base import Attack, check_count, input_gradient
from cnnkit.attacks.norms import (
    check_eps,
    check_norm,
    normalize_step,
    project,
    random_start,
)
from cnnkit.errors import ConfigError

__all__ = ["PGD", "pgd_steps"]


def pgd_steps(
    model: nn.Module,
    x: Tensor,
    x_start: Tensor,
    y: Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    norm: str = "inf",
    target: Tensor | None = None,
) -> Tensor:
    """Projected gradient ascent (Madry et al., 2018): ``steps`` steps of size ``alpha`` from ``x_start``.

    Each step follows the normalised input gradient, then projects onto the eps-ball around
    ``x`` and the [0, 1] box. The one iteration of PGD, BIM and the least-likely class method
    (Kurakin et al., 2017) and of adversarial training (train/adversarial.py); the model runs
    in whatever mode the caller left it.
    """
    x_adv = x_start  # never written to: x_start may be x itself
    for _ in range(steps):
        grad, _ = input_gradient(model, x_adv, y, target)
        # normalize_step and project return new tensors, so the rest is done in place on them;
        # the same sums as x_adv + alpha * step and x + delta (addition commutes bit for bit).
        delta = normalize_step(grad, norm).mul_(alpha).add_(x_adv).sub_(x)
        x_adv = project(delta, eps, norm).add_(x).clamp_(0, 1)
    return x_adv


@dataclass(frozen=True, kw_only=True)
class PGD(Attack):
    """Projected gradient descent (Madry et al., 2018) in L-inf or L2, random start."""

    norm: str = "inf"              # type: ignore[misc]  # 'inf' or '2'
    eps: float = 8 / 255           # radius of the ball, pixel units in [0, 1]
    alpha: float | None = None     # step size; None: 2.5 * eps / steps (Madry et al.)
    steps: int = 10
    random_start: bool = True
    seed: int | None = 0           # random start drawn from torch.Generator(seed); None: global RNG

    def __post_init__(self) -> None:
        check_norm(self.norm)
        check_eps(self.eps, self.norm)
        check_count(self.steps, "steps")
        if self.alpha is not None and not self.alpha > 0:
            raise ConfigError(f"alpha must be > 0, got {self.alpha}")

    @property
    def step_size(self) -> float:
        return self.alpha if self.alpha is not None else 2.5 * self.eps / self.steps

    def start(self, x: Tensor) -> Tensor:
        """The first iterate: x plus a random point of the ball (clipped to the box), or x."""
        if not self.random_start:
            return x.clone()
        generator = None
        if self.seed is not None:
            generator = torch.Generator(device=x.device).manual_seed(self.seed)
        return (x + random_start(x, self.eps, self.norm, generator)).clamp(0, 1)

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
        # Without a random start the first step runs on x itself (pgd_steps never writes to it), which
        # saves the copy and lets the base class see at once that this forward gives the clean prediction.
        x_start = self.start(x) if self.random_start else x
        return pgd_steps(model, x, x_start, y, eps=self.eps, alpha=self.step_size, steps=self.steps,
                         norm=self.norm, target=target)
