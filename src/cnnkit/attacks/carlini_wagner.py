"""Carlini & Wagner's L2 attack (Carlini & Wagner, 2017, arXiv:1608.04644).

Minimise ||x' - x||_2^2 + c * f6(x') over w, where x' = (tanh(w) + 1) / 2 keeps every pixel
in [0, 1] without clipping, and f6 is the logit margin: max(max_{i != t} Z_i - Z_t, -kappa)
aimed at a target t, or max(Z_y - max_{i != y} Z_i, -kappa) away from the label y. Adam takes
the steps; a binary search per example looks for the smallest c that still succeeds, and the
smallest-L2 successful x' seen over the whole search is kept (an example never fooled is
returned unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from cnnkit.attacks.base import Attack, check_count
from cnnkit.errors import ConfigError

__all__ = ["CarliniWagnerL2", "logit_margin"]

_BIG = 1e10


@dataclass(frozen=True, kw_only=True)
class CarliniWagnerL2(Attack):
    """Carlini & Wagner's L2 attack (Carlini & Wagner, 2017): tanh box, f6 margin, Adam, binary search on c."""

    c: float = 1.0                  # the first constant tried (the paper starts at 1e-3 with 20 steps of search)
    kappa: float = 0.0              # confidence: the margin by which the attack must win
    steps: int = 100                # Adam steps per value of c
    lr: float = 0.01                # Adam step size, in tanh space
    binary_search_steps: int = 5

    def __post_init__(self) -> None:
        if not self.c > 0:
            raise ConfigError(f"c must be > 0, got {self.c}")
        if not self.kappa >= 0:
            raise ConfigError(f"kappa must be >= 0, got {self.kappa}")
        check_count(self.steps, "steps")
        check_count(self.binary_search_steps, "binary_search_steps", high=1_000)
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
        n = len(x)
        w0 = torch.atanh((2 * x - 1) * (1 - 1e-6))               # (N, C, H, W): x in tanh space
        c = torch.full((n,), self.c, device=x.device)
        lo, hi = torch.zeros_like(c), torch.full_like(c, _BIG)
        best_l2 = torch.full_like(c, float("inf"))
        best = x.clone()
        for _ in range(self.binary_search_steps):
            w = w0.clone().requires_grad_(True)
            optimizer = torch.optim.Adam([w], lr=self.lr)
            found = torch.zeros(n, dtype=torch.bool, device=x.device)
            for _ in range(self.steps):
                with torch.enable_grad():
                    x_new = (torch.tanh(w) + 1) / 2
                    logits = model(x_new)
                    l2sq = (x_new - x).flatten(1).square().sum(1)
                    margin = logit_margin(logits, y, target)
                    loss = (l2sq + c * margin.clamp_min(-self.kappa)).sum()
                    optimizer.zero_grad()
                    loss.backward()
                # the iterate that was just scored, before the step
                won = margin.detach() < 0 if self.kappa == 0 else margin.detach() <= -self.kappa
                better = won & (l2sq.detach() < best_l2)
                best_l2 = torch.where(better, l2sq.detach(), best_l2)
                best[better] = x_new.detach()[better]
                found |= won
                optimizer.step()
            # success: try a smaller c; failure: a larger one (x10 until an upper bound is known)
            hi = torch.where(found, torch.minimum(hi, c), hi)
            lo = torch.where(found, lo, torch.maximum(lo, c))
            c = torch.where(hi < _BIG, (lo + hi) / 2, c * 10)
        return best


def logit_margin(logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    """Carlini & Wagner's f6 before the clamp: < 0 exactly when the attack wins (N,)."""
    cls = target if target is not None else y
    own = logits.gather(1, cls[:, None])[:, 0]
    other = logits.scatter(1, cls[:, None], float("-inf")).amax(1)
    return other - own if target is not None else own - other
