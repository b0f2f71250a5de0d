"""Universal adversarial perturbations (Moosavi-Dezfooli, Fawzi, Fawzi & Frossard, 2017, arXiv:1610.08401).

One image-agnostic v with ||v||_p <= xi that changes the label of most images: passes over
the fitting images in random order; for each image that x + v does not yet fool, DeepFool's
minimal step dv from x + v off the image's clean label, then v <- P_{p,xi}(v + dv); stop once
the fooling rate on the fitting set reaches ``fooling_target`` (the paper's 1 - delta) or
after ``max_passes`` passes (algorithm 1).

Batched variant: the paper visits one image at a time, so each dv is computed at the v left
by the previous image. Here ``batch_size`` images are visited at once: the not-yet-fooled
ones get their DeepFool steps in one batched call at the current v, and then the steps are
added and projected one after another, in the visiting order. ``batch_size=1`` is the
paper's loop exactly.

``fooling_rate`` is the paper's measure: the fraction of images whose predicted label
changes when v is added (x + v clipped to [0, 1]). A fitted v is applied as an ordinary
attack, ``Perturbation(delta=v)``, so its results have the AttackResult shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from cnnkit.attacks.base import Attack, check_count
from cnnkit.attacks.deepfool import deepfool
from cnnkit.attacks.evaluate import predict
from cnnkit.attacks.norms import check_eps, check_norm, project
from cnnkit.errors import ConfigError
from cnnkit.modes import frozen
from cnnkit.progress import Progress

__all__ = ["Perturbation", "UniversalPerturbation", "fooling_rate"]


@dataclass(frozen=True, kw_only=True)
class UniversalPerturbation:
    """Universal adversarial perturbation (Moosavi-Dezfooli et al., 2017): fit once, one v for all images."""

    xi: float = 0.1                # radius of the ball v lives in, pixel units
    norm: str = "inf"              # 'inf' or '2'
    fooling_target: float = 0.8    # stop when this fraction of the fitting images is fooled (1 - delta)
    max_passes: int = 10           # passes over the fitting images at most
    overshoot: float = 0.02        # DeepFool's overshoot
    deepfool_steps: int = 10       # DeepFool's most steps per image and visit
    candidates: int = 10           # DeepFool's candidate classes
    batch_size: int = 32           # images visited at once; 1 = the paper's loop
    seed: int = 0                  # the visiting order

    def __post_init__(self) -> None:
        check_norm(self.norm)
        check_eps(self.xi, self.norm, name="xi")
        if not 0 < self.fooling_target <= 1:
            raise ConfigError(f"fooling_target must be in (0, 1], got {self.fooling_target}")
        check_count(self.max_passes, "max_passes", high=10_000)
        check_count(self.deepfool_steps, "deepfool_steps")
        check_count(self.batch_size, "batch_size", high=1_000_000)

    def fit(self, model: nn.Module, x: Tensor, y: Tensor | None = None, *,
            progress: Progress | None = None) -> Tensor:
        """The perturbation v (C, H, W) fitted on pixels x (N, C, H, W) in [0, 1].

        ``progress(done, total)`` is called after each batch of visited images: ``done`` counts the
        images visited over all passes, ``total`` is ``max_passes * N``, or ``done`` itself once the
        target fooling rate stops the fit early (the work is complete). ``y`` is accepted for symmetry
        with attacks but not used: like the paper, an image is fooled when its label moves off the
        model's own clean prediction.
        """
        if not isinstance(x, Tensor) or x.dim() != 4 or len(x) == 0:
            raise ConfigError(f"x must be a non-empty float tensor (N, C, H, W) in [0, 1], got {getattr(x, 'shape', x)}")
        if float(x.min()) < 0 or float(x.max()) > 1:
            raise ConfigError("x must hold pixels in [0, 1]: the model normalises by itself")
        generator = torch.Generator().manual_seed(self.seed)
        v = torch.zeros_like(x[0])                                   # (C, H, W)
        total, visited = self.max_passes * len(x), 0
        with frozen(model):
            clean = predict(model, x, batch_size=1000)
            for _ in range(self.max_passes):
                order = torch.randperm(len(x), generator=generator).to(x.device)
                for start in range(0, len(x), self.batch_size):
                    rows = order[start : start + self.batch_size]
                    visited += len(rows)
                    shifted = (x[rows] + v).clamp(0, 1)
                    with torch.no_grad():
                        still = model(shifted).argmax(1).eq(clean[rows])
                    if still.any():
                        moved = deepfool(model, shifted[still], clean[rows][still], steps=self.deepfool_steps,
                                         overshoot=self.overshoot, candidates=self.candidates, norm=self.norm)
                        fooled = predict(model, moved, batch_size=1000).ne(clean[rows][still])
                        for dv in (moved - shifted[still])[fooled]:  # the paper adds dv only when it fools
                            v = project((v + dv)[None], self.xi, self.norm)[0]
                    if progress is not None and visited < total:
                        progress(visited, total)
                if _rate(model, x, v, clean) >= self.fooling_target:
                    total = visited
                    break
        if progress is not None:
            progress(visited, total)
        return v


@dataclass(frozen=True, kw_only=True, eq=False)
class Perturbation(Attack):
    """A fixed perturbation added to every image (e.g. a universal one, Moosavi-Dezfooli et al., 2017)."""

    can_target = False
    delta: Tensor = field(repr=False)  # (C, H, W), or (N, C, H, W) matching the batch

    def __post_init__(self) -> None:
        if not isinstance(self.delta, Tensor) or self.delta.dim() not in (3, 4):
            raise ConfigError(f"delta must be a tensor (C, H, W), got {getattr(self.delta, 'shape', type(self.delta))}")

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
        delta = self.delta.to(x.device, x.dtype)
        if delta.shape[-3:] != x.shape[-3:]:
            raise ConfigError(f"delta has shape {tuple(delta.shape)}, the images {tuple(x.shape[1:])}")
        return x + delta


def fooling_rate(model: nn.Module, x: Tensor, v: Tensor, *, batch_size: int = 1000) -> float:
    """The fraction of images whose predicted label changes when v is added (Moosavi-Dezfooli et al., 2017)."""
    with frozen(model):
        return _rate(model, x, v, predict(model, x, batch_size=batch_size), batch_size)


def _rate(model: nn.Module, x: Tensor, v: Tensor, clean: Tensor, batch_size: int = 1000) -> float:
    return float(predict(model, (x + v).clamp(0, 1), batch_size=batch_size).ne(clean).float().mean())
