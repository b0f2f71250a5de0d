"""Iterative least-likely class method (Kurakin, Goodfellow & Bengio, 2017, "Adversarial
examples in the physical world", arXiv:1607.02533, section 2.3).

BIM aimed at y_LL = argmin_y p(y | X), the class the model finds least likely on the clean image:
X_{N+1} = Clip_{X,eps}{X_N - alpha sign(grad J(X_N, y_LL))}, stepping down the loss of y_LL, with
BIM's alpha and number of steps.

What counts as success: the paper reports top-1 accuracy on the adversarial images, so this
attack is judged like an untargeted one: ``success`` is "no longer classified as y" and
``AttackResult.adv_accuracy`` is the paper's figure. Whether y_LL itself was reached is
``result.adv_pred == least_likely_class(model, x)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from cnnkit.attacks.bim import BIM
from cnnkit.attacks.pgd import pgd_steps

__all__ = ["LeastLikely", "least_likely_class"]


def least_likely_class(model: nn.Module, x: Tensor) -> Tensor:
    """y_LL = argmin_y p(y | x) of the model's clean prediction (Kurakin et al., 2017), (N,)."""
    with torch.no_grad():
        return model(x).argmin(1)


@dataclass(frozen=True, kw_only=True)
class LeastLikely(BIM):
    """Iterative least-likely class method (Kurakin et al., 2017): BIM descending the loss of y_LL."""

    can_target: ClassVar[bool] = False  # the target is always y_LL

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
        y_ll = least_likely_class(model, x)  # (N,)
        return pgd_steps(model, x, x, y, eps=self.eps, alpha=self.alpha, steps=self.num_steps,
                         norm=self.norm, target=y_ll)
