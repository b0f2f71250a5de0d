"""Box-constrained L-BFGS (Szegedy et al., 2013, arXiv:1312.6199, section 4.1).

The paper's problem: minimise c * |r| + loss_f(x + r, l) subject to x + r in [0, 1]^m, with a
line search over c. Here |r| is the SQUARED L2 norm ||r||_2^2 (smooth at r = 0, so L-BFGS's
curvature pairs stay valid), loss_f is the cross-entropy of the target l (targeted, the
paper's form) or, untargeted, the hinge max(f_y - max_{k != y} f_k + margin, 0), which is
zero once the label has changed by ``margin`` logits.

The box: torch.optim.LBFGS has no bounds, so it minimises c * ||r||^2 + loss_f(clip(x + r), l)
over unconstrained r, with clip to [0, 1]. This has the same minimiser as the boxed problem:
any coordinate of r beyond a face of the box can be pulled back to the face without changing
the loss, and that lowers ||r||^2, so the minimiser lies inside the box. (Carlini & Wagner's
tanh change of variables was tried first: at pixels that sit on 0 or 1, as most of an MNIST
image does, tanh's derivative is ~1e-6, which leaves L-BFGS's shared curvature estimate
badly scaled and the attack stuck; Adam, per coordinate, does not mind.)

The search over c: c weighs the norm, so a larger c gives a smaller r; the paper's "minimum c
for which the minimiser satisfies f(x + r) = l" is read, with c moved onto the loss as
Carlini & Wagner write it, as the largest weight on |r| that still succeeds. Every example has
its own c: a binary search (x10 / /10 until both bounds are known, then bisection in log
space), keeping the smallest-L2 successful x + r found. One torch.optim.LBFGS run minimises
the sum of the per-example objectives, which are independent, so the gradient is the
per-example gradients side by side (its curvature memory and line search are shared).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.attacks.base import Attack, check_count
from cnnkit.attacks.carlini_wagner import logit_margin
from cnnkit.errors import ConfigError

__all__ = ["LBFGS"]


@dataclass(frozen=True, kw_only=True)
class LBFGS(Attack):
    """Box-constrained L-BFGS (Szegedy et al., 2013): min c*||r||^2 + loss(x + r, l), search over c per example."""

    c: float = 0.1                 # the first weight on ||r||_2^2
    steps: int = 20                # L-BFGS iterations per value of c
    search_steps: int = 6          # values of c tried per example
    margin: float = 0.01           # untargeted hinge: the label must lose by this many logits
    history_size: int = 10

    def __post_init__(self) -> None:
        if not self.c > 0:
            raise ConfigError(f"c must be > 0, got {self.c}")
        check_count(self.steps, "steps")
        check_count(self.search_steps, "search_steps", high=1_000)
        if not self.margin >= 0:
            raise ConfigError(f"margin must be >= 0, got {self.margin}")

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
        n = len(x)
        c = torch.full((n,), self.c, device=x.device)
        lo, hi = torch.zeros_like(c), torch.full_like(c, float("inf"))
        best_l2 = torch.full_like(c, float("inf"))
        best = x.clone()
        for _ in range(self.search_steps):
            r = torch.zeros_like(x, requires_grad=True)             # (N, C, H, W)
            optimizer = torch.optim.LBFGS([r], lr=1, max_iter=self.steps, history_size=self.history_size,
                                          line_search_fn="strong_wolfe")

            def closure(r: Tensor = r, c: Tensor = c) -> Tensor:
                optimizer.zero_grad()
                with torch.enable_grad():
                    x_new = (x + r).clamp(0, 1)
                    loss = (c * r.flatten(1).square().sum(1) + self._loss(model(x_new), y, target)).sum()
                    loss.backward()
                return loss

            optimizer.step(closure)
            with torch.no_grad():
                x_new = (x + r).clamp(0, 1)
                pred = model(x_new).argmax(1)
                won = pred.eq(target) if target is not None else pred.ne(y)
                l2 = (x_new - x).flatten(1).norm(dim=1)
            better = won & (l2 < best_l2)
            best_l2 = torch.where(better, l2, best_l2)
            best[better] = x_new[better]
            # success: weigh the norm more (smaller r); failure: weigh it less
            lo = torch.where(won, torch.maximum(lo, c), lo)
            hi = torch.where(won, hi, torch.minimum(hi, c))
            both = (lo > 0) & torch.isfinite(hi)
            c = torch.where(both, (lo * hi).sqrt(), torch.where(won, c * 10, c / 10))
        return best

    def _loss(self, logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
        if target is not None:
            return F.cross_entropy(logits, target, reduction="none")
        return (logit_margin(logits, y, None) + self.margin).clamp_min(0)
