"""Fast gradient sign method (Goodfellow, Shlens & Szegedy, 2015, arXiv:1412.6572).

One step of size eps along the sign of the loss gradient: x_adv = clip(x + eps * sign(dL/dx)).
Targeted, it steps down the target's loss instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor, nn

from cnnkit.attacks.base import Attack, input_gradient
from cnnkit.attacks.norms import check_eps

__all__ = ["FGSM", "fgsm_step"]


def fgsm_step(model: nn.Module, x: Tensor, y: Tensor, eps: float, *, target: Tensor | None = None) -> Tensor:
    """One fast-gradient-sign step (Goodfellow et al., 2015): x + eps * sign(grad_x loss), not clipped.

    Shared by the FGSM attack and adversarial training (train/adversarial.py); the model runs in
    whatever mode the caller left it, and only the gradient with respect to x is taken.
    """
    grad, _ = input_gradient(model, x, y, target)
    return grad.sign().mul_(eps).add_(x)  # x + eps * sign(grad), in place on the new sign tensor


@dataclass(frozen=True, kw_only=True)
class FGSM(Attack):
    """Fast gradient sign method (Goodfellow et al., 2015): one L-inf step of size eps."""

    norm: ClassVar[str] = "inf"
    eps: float = 8 / 255  # L-inf radius, pixel units in [0, 1]

    def __post_init__(self) -> None:
        check_eps(self.eps, self.norm)

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
        return fgsm_step(model, x, y, self.eps, target=target)
