"""Robustness evaluation: accuracy against perturbation size, for several attacks in one call.

For an attack with an ``eps`` field (FGSM, BIM, PGD, ...) the curve is the accuracy on its
adversarial examples, the attack re-configured at each eps (Kurakin et al., 2017,
arXiv:1607.02533, Figure 2; Madry et al., 2018, arXiv:1706.06083). A minimum-norm attack
(DeepFool, Moosavi-Dezfooli et al., 2016, arXiv:1511.04599; L-BFGS, Szegedy et al., 2014,
arXiv:1312.6199; Carlini & Wagner, 2017, arXiv:1608.04644) runs once: an image still counts as
correct at eps when the model classifies it correctly and the smallest perturbation the attack
found has norm > eps (or the attack found none), so the whole curve comes from one run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from cnnkit.attacks.base import Attack, AttackResult
from cnnkit.errors import ConfigError
from cnnkit.modes import device_of, frozen
from cnnkit.progress import Progress

__all__ = ["RobustnessCurve", "predict", "robustness_curve", "run_attack"]


def predict(model: nn.Module, x: Tensor, *, batch_size: int = 256) -> Tensor:
    """The model's top-1 classes for pixels x (N, C, H, W) in [0, 1], in batches, (N,)."""
    from cnnkit.runs.evaluation import for_each_batch

    _check_batch_size(batch_size)
    device = device_of(model)
    preds: list[Tensor] = []
    with frozen(model):
        for_each_batch(model, ((x[i:i + batch_size], None) for i in range(0, len(x), batch_size)),
                       lambda _images, _labels, logits: preds.append(logits.argmax(1)), device=device)
    return torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long, device=device)


def run_attack(attack: Attack, model: nn.Module, x: Tensor, y: Tensor, *, target: Tensor | None = None,
               batch_size: int = 256, progress: Progress | None = None) -> AttackResult:
    """``attack(model, x, y)`` in batches of ``batch_size``, the results joined into one AttackResult.

    ``progress(done, total)`` is called after each batch: images attacked so far, of ``len(x)``.
    """
    _check_batch_size(batch_size)
    y = torch.as_tensor(y)
    if len(x) == 0 or len(x) <= batch_size:
        result = attack(model, x, y, target=target)
        if progress is not None:
            progress(len(x), len(x))
        return result
    parts = []
    for i in range(0, len(x), batch_size):
        part_target = None if target is None else torch.as_tensor(target).expand(len(x))[i:i + batch_size]
        parts.append(attack(model, x[i:i + batch_size], y[i:i + batch_size], target=part_target))
        if progress is not None:
            progress(min(i + batch_size, len(x)), len(x))
    joined = {f.name: None if getattr(parts[0], f.name) is None else torch.cat([getattr(p, f.name) for p in parts])
              for f in dataclasses.fields(AttackResult)}
    return AttackResult(**joined)


@dataclass(frozen=True)
class RobustnessCurve:
    """Accuracy against eps for several attacks (Kurakin et al., 2017; Madry et al., 2018)."""

    eps: tuple[float, ...]
    accuracy: dict[str, tuple[float, ...]]   # attack name -> accuracy at each eps
    success: dict[str, tuple[float, ...]]    # attack name -> success rate at each eps (target hit, if targeted)
    norms: dict[str, str]                     # attack name -> 'inf' or '2', the norm eps is measured in
    clean_accuracy: float
    count: int                                # images evaluated

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the curve."""
        return {"eps": list(self.eps), "accuracy": {k: list(v) for k, v in self.accuracy.items()},
                "success": {k: list(v) for k, v in self.success.items()},
                "norms": dict(self.norms), "clean_accuracy": self.clean_accuracy, "count": self.count}


def robustness_curve(model: nn.Module, x: Tensor, y: Tensor, attacks_by_name: Mapping[str, Attack],
                     eps_values: Sequence[float], *, target: Tensor | None = None,
                     batch_size: int = 256, progress: Progress | None = None) -> RobustnessCurve:
    """Accuracy vs eps of each attack (Kurakin et al., 2017, Figure 2); min-norm attacks from one run.

    With ``target`` (N,) every attack aims at those classes and ``success`` is the rate of hitting them.
    ``progress(done, total)`` counts attacked images over all attacks and eps values.
    """
    if not attacks_by_name:
        raise ConfigError("give at least one attack to draw a robustness curve of")
    eps_values = tuple(float(e) for e in eps_values)
    if not eps_values:
        raise ConfigError("give at least one eps value")
    for eps in eps_values:
        if not math.isfinite(eps) or eps < 0:
            raise ConfigError(f"eps values must be finite and >= 0, got {eps}")
    y = torch.as_tensor(y)
    correct = predict(model, x, batch_size=batch_size).cpu() == y.cpu()  # (N,)
    accuracy: dict[str, tuple[float, ...]] = {}
    success: dict[str, tuple[float, ...]] = {}
    norms: dict[str, str] = {}
    runs = sum(len(eps_values) if _has_eps(a) else 1 for a in attacks_by_name.values())
    finished = 0

    def count(images: int, _total: int) -> None:
        if progress is not None:
            progress(finished + images, runs * len(x))

    for name, attack in attacks_by_name.items():
        norm = str(getattr(attack, "norm", None) or "2")
        norms[name] = norm
        if _has_eps(attack):
            results = []
            for eps in eps_values:
                results.append(run_attack(dataclasses.replace(attack, eps=eps), model, x, y, target=target,
                                          batch_size=batch_size, progress=count))
                finished += len(x)
            accuracy[name] = tuple(r.adv_accuracy for r in results)
            success[name] = tuple(r.success_rate for r in results)
        else:
            result = run_attack(attack, model, x, y, target=target, batch_size=batch_size, progress=count)
            finished += len(x)
            size = (result.linf if norm == "inf" else result.l2).cpu()  # (N,)
            hit = result.success.cpu()
            # Within eps the attack wins exactly where it succeeded with a perturbation no larger than eps.
            accuracy[name] = tuple(_mean(correct & ~(hit & (size <= eps))) for eps in eps_values)
            success[name] = tuple(_mean(hit & (size <= eps)) for eps in eps_values)
    clean = float(correct.float().mean()) if len(x) else 0.0
    return RobustnessCurve(eps=eps_values, accuracy=accuracy, success=success, norms=norms, clean_accuracy=clean, count=len(x))


def _has_eps(attack: Attack) -> bool:
    return any(f.name == "eps" for f in dataclasses.fields(attack))


def _mean(flags: Tensor) -> float:
    return float(flags.float().mean()) if flags.numel() else 0.0


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
