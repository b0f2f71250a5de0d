"""Basic iterative method (Kurakin, Goodfellow & Bengio, 2017, "Adversarial examples in the
physical world", arXiv:1607.02533, section 2.2).

FGSM applied many times with a small step: X_0 = X, X_{N+1} = Clip_{X,eps}{X_N + alpha sign(grad J(X_N, y))},
clipping to the L-inf eps-ball and the pixel box after every step. The paper uses alpha = 1 (of
255) and min(eps + 4, 1.25 eps) steps (eps in 0..255), enough to reach the edge of the ball. No
random start: that, and Madry's step rule, make it PGD (pgd.py), whose iteration it shares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor, nn

from cnnkit.attacks.base import Attack, check_count
from cnnkit.attacks.norms import check_eps
from cnnkit.attacks.pgd import pgd_steps
from cnnkit.errors import ConfigError

__all__ = ["BIM"]


@dataclass(frozen=True, kw_only=True)
class BIM(Attack):
    """Basic iterative method (Kurakin et al., 2017): FGSM steps of alpha, clipped to the eps-ball each step."""

    norm: ClassVar[str] = "inf"
    eps: float = 8 / 255          # L-inf radius, pixel units in [0, 1]
    alpha: float = 1 / 255        # step size, pixel units (the paper's 1 of 255)
    steps: int | None = None      # None: min(eps*255 + 4, 1.25 eps*255), rounded up (Kurakin et al.)

    def __post_init__(self) -> None:
        check_eps(self.eps, self.norm)
        if not self.alpha > 0:
            raise ConfigError(f"alpha must be > 0, got {self.alpha}")
        if self.steps is not None:
            check_count(self.steps, "steps (or None for the paper's rule)")

    @property
    def num_steps(self) -> int:
        """The number of steps: ``steps``, or the paper's min(eps + 4, 1.25 eps) in 0..255 units."""
        if self.steps is not None:
            return self.steps
        eps255 = self.eps * 255
        return max(1, math.ceil(min(eps255 + 4, 1.25 * eps255) - 1e-9))

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
        return pgd_steps(model, x, x, y, eps=self.eps, alpha=self.alpha, steps=self.num_steps,
                         norm=self.norm, target=target)
