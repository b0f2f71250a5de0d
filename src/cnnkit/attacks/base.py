"""The shape every attack shares: configured once, called on a batch, returns an AttackResult.

``Attack.__call__`` is the only public method. It checks the inputs (pixels in [0, 1], labels
of the right shape and range), freezes the model (eval mode, no parameter gradients; both
restored afterwards), calls the subclass's ``_perturb``, clips the result to the pixel box
and, where the method has one, to its eps-ball, and then predicts ``x_adv`` once more, so
``success`` is exactly what a user who re-runs the model on ``x_adv`` sees.

Untargeted attacks succeed when the prediction differs from ``y``; targeted ones (pass
``target=``) when it equals the target. Methods that cannot aim at a class refuse ``target``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.attacks.norms import check_eps, lp_norms, project
from cnnkit.errors import ConfigError
from cnnkit.modes import device_of, frozen

__all__ = ["MAX_STEPS", "Attack", "AttackResult", "CountingModel", "adversarial_loss", "check_count", "input_gradient"]

MAX_STEPS = 100_000  # iterations of any attack loop: hours on a CPU already, and an int bound for typos


def check_count(value: object, name: str, *, low: int = 1, high: int = MAX_STEPS) -> None:
    """An integer count (steps, passes, batch size) in [low, high], or a ConfigError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer in [{low:,}, {high:,}], got {value!r}")


@dataclass(frozen=True)
class AttackResult:
    """Adversarial examples and what they achieved, one entry per example."""

    x_adv: Tensor          # (N, C, H, W) in [0, 1]
    success: Tensor        # (N,) bool: fooled (untargeted) or hit the target (targeted)
    l2: Tensor             # (N,) L2 norm of x_adv - x
    linf: Tensor           # (N,) L-inf norm of x_adv - x
    queries: Tensor        # (N,) int64: forward passes (gradient or not) that saw the example
    clean_pred: Tensor     # (N,) the model's class for x
    adv_pred: Tensor       # (N,) the model's class for x_adv
    y: Tensor              # (N,) true labels
    target: Tensor | None  # (N,) target classes of a targeted attack

    @property
    def success_rate(self) -> float:
        """Fraction of examples on which the attack succeeded."""
        return float(self.success.float().mean()) if self.success.numel() else 0.0

    @property
    def clean_accuracy(self) -> float:
        return float((self.clean_pred == self.y).float().mean()) if self.y.numel() else 0.0

    @property
    def adv_accuracy(self) -> float:
        """Accuracy of the model on the adversarial examples (robust accuracy)."""
        return float((self.adv_pred == self.y).float().mean()) if self.y.numel() else 0.0


class CountingModel(nn.Module):
    """Wraps a model to count, per example of the batch being attacked, the forward passes.

    ``rows`` maps each row of a call's input to an example index; attacks that work on a
    subset of the batch pass ``rows`` through ``subset`` so the right examples are counted.
    The first call's output is checked against the labels (``on_first``), and kept when that
    call ran on the clean batch itself, so the clean prediction costs no extra forward pass.
    """

    def __init__(self, model: nn.Module, x: Tensor, on_first: Callable[[int], None]) -> None:
        super().__init__()
        self.model = model
        self.queries = torch.zeros(len(x), dtype=torch.int64, device=x.device)
        self.clean_logits: Tensor | None = None
        self._x = x
        self._on_first: Callable[[int], None] | None = on_first
        self._rows: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self._rows is not None and len(self._rows) == x.shape[0]:
            self.queries[self._rows] += 1
        elif x.shape[0] == self.queries.shape[0]:
            self.queries += 1
        logits = self.model(x)
        if self._on_first is not None:
            check, self._on_first = self._on_first, None
            check(logits.shape[1])  # labels out of range stop here, before any loss sees them
            if x.shape == self._x.shape and (_same_memory(x, self._x) or torch.equal(x, self._x)):
                self.clean_logits = logits.detach()
        return logits

    def subset(self, rows: Tensor | None) -> None:
        """The example indices of the rows of the next calls' inputs (None: the whole batch)."""
        self._rows = rows


@dataclass(frozen=True, kw_only=True)
class Attack:
    """Base of every attack: subclasses hold hyperparameters and write ``_perturb`` only."""

    can_target: ClassVar[bool] = True   # False: the method cannot aim at a chosen class
    norm: ClassVar[str | None] = None   # 'inf' or '2' for methods with an eps-ball

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, *, target: Tensor | None = None) -> AttackResult:
        """Attack ``model`` on pixels ``x`` (N, C, H, W) in [0, 1] with true labels ``y`` (N,)."""
        if target is not None and not self.can_target:
            raise ConfigError(f"{type(self).__name__} is untargeted only; drop target")
        eps = getattr(self, "eps", None)
        if eps is not None and self.norm is not None:
            check_eps(float(eps), self.norm)
        device = device_of(model)
        x, y = _check_batch(x, y, device)
        y = _check_labels(y, None, "y")
        if target is not None:
            target = torch.as_tensor(target, device=device)
            if target.dim() == 0:
                target = target.expand(len(x))
            target = _check_labels(target, None, "target", batch=len(x))

        def check_ranges(num_classes: int) -> None:
            _check_labels(y, num_classes, "y")
            if target is not None:
                _check_labels(target, num_classes, "target")

        counter = CountingModel(model, x, check_ranges)
        with frozen(model):
            out = self._perturb(counter, x, y, target)
            x_adv = out.detach()
            if eps is not None and self.norm is not None:
                # project() returns a new tensor, so the sum and the clamp can reuse it (p + x == x + p)
                x_adv = project(x_adv - x, float(eps), self.norm).add_(x).clamp_(0, 1)
            else:
                x_adv = x_adv.clamp(0, 1)  # out may be the subclass's own tensor: not in place
            with torch.no_grad():
                if counter.clean_logits is None:  # the attack never ran the model on x itself
                    logits = model(x)
                    check_ranges(logits.shape[1])
                    counter.clean_logits = logits
                adv_pred = model(x_adv).argmax(1)
        clean_pred = counter.clean_logits.argmax(1)
        success = adv_pred.eq(target) if target is not None else adv_pred.ne(y)
        l2, linf = lp_norms(x_adv - x)
        return AttackResult(x_adv=x_adv, success=success, l2=l2, linf=linf, queries=counter.queries,
                            clean_pred=clean_pred, adv_pred=adv_pred, y=y, target=target)

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor, *, target: Tensor | None = None) -> Tensor:
        """The method's adversarial batch with ``model`` in whatever mode the caller left it, clipped to [0, 1].

        No checks, no freezing, no re-prediction: the inner maximisation of adversarial training
        (train/adversarial.py), which runs on the training graph. Methods with an eps-ball keep to it.
        """
        return self._perturb(model, x, y, target).clamp(0, 1)

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
        """The adversarial batch before the base class clips it; ``model`` is frozen and counted."""
        raise NotImplementedError

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
        return f"{type(self).__name__}({shown})"


def adversarial_loss(logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    """Per-example loss to ascend: cross-entropy of y, or minus that of the target (N,)."""
    if target is None:
        return F.cross_entropy(logits, y, reduction="none")
    return -F.cross_entropy(logits, target, reduction="none")


def input_gradient(model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None) -> tuple[Tensor, Tensor]:
    """Gradient of the summed adversarial loss with respect to x, and the logits at x."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        loss = adversarial_loss(logits, y, target).sum()
        (grad,) = torch.autograd.grad(loss, x)
    return grad, logits.detach()


def _same_memory(a: Tensor, b: Tensor) -> bool:
    """True when a and b are views of the same elements (so equal without reading them)."""
    return (a.data_ptr() == b.data_ptr() and a.stride() == b.stride() and a.dtype == b.dtype
            and a.device == b.device and a.is_neg() == b.is_neg() and a.is_conj() == b.is_conj())


def _check_batch(x: Tensor, y: Tensor, device: torch.device) -> tuple[Tensor, Tensor]:
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ConfigError(f"x must be a float tensor (N, C, H, W) of pixels in [0, 1], got {shape}")
    if x.numel():
        # One pass and one device sync: aminmax propagates NaN, and NaN fails both comparisons, inf the range.
        low, high = torch.stack(torch.aminmax(x)).tolist()
        if not (low >= 0 and high <= 1):
            raise ConfigError(
                f"x holds values outside [0, 1] (min {low:.3g}, max {high:.3g}); "
                "attacks take pixels in [0, 1]: the model normalises by itself"
            )
    y = torch.as_tensor(y)
    if y.dim() != 1 or y.shape[0] != x.shape[0]:
        raise ConfigError(f"y must hold one label per image: shape ({x.shape[0]},), got {tuple(y.shape)}")
    return x.detach().to(device), y.to(device)


def _check_labels(labels: Tensor, num_classes: int | None, name: str, *, batch: int | None = None) -> Tensor:
    """Integer classes, one per image; in 0..num_classes-1 once the model's output size is known."""
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ConfigError(f"{name} must hold integer class indices, got {labels.dtype}")
    if batch is not None and (labels.dim() != 1 or labels.shape[0] != batch):
        raise ConfigError(f"{name} must hold one class per image: shape ({batch},), got {tuple(labels.shape)}")
    if num_classes is not None and labels.numel():
        low, high = torch.stack(torch.aminmax(labels)).tolist()  # one pass, one sync
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise ConfigError(f"{name} holds class {bad}, but the model has classes 0..{num_classes - 1}")
    return labels.long()
