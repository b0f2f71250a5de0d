"""Adversarial training: each step trains on adversarial examples of its own batch.

- ``fgsm``: Goodfellow, Shlens & Szegedy, 2015 (arXiv:1412.6572), section 5: the mixed objective
  J~(x, y) = R * J(x, y) + (1 - R) * J(x + eps * sign(grad_x J(x, y)), y), with R = 0.5 as in the paper.
- ``pgd``: Madry et al., 2018 (arXiv:1706.06083), section 4: the inner maximisation by PGD (a
  uniform random start in the L-inf eps-ball, ``steps`` signed-gradient steps of size ``alpha``,
  each projected onto the ball and the [0, 1] box), and training on those examples only (R = 0).

The adversarial batch is made by an attack object's ``perturb`` (``cnnkit.attacks.FGSM``,
``cnnkit.attacks.PGD``), not by ``Attack.__call__``, which would switch the model to eval mode and
predict the result again; the PGD step size default is PGD's own. Choices, each stated once here:

- Pixel space: the loop hands over the batch after conversion to [0, 1] and augmentation, before
  the model's first layer (Normalize), so ``eps`` is in pixel units and the box is [0, 1].
- Mode: the perturbation is computed with the model in training mode (BatchNorm on the batch's
  statistics, dropout active), as in Madry et al.'s code, whose attack runs on the training graph
  (``Model(mode='train')``). Their BatchNorm also updated its moving averages on every attack
  forward (``updates_collections=None``); here it does not: the running statistics (and
  ``num_batches_tracked``) are put back after the attack, so only the training forward passes move
  them, and test-time statistics describe the examples that were trained on.
- Precision: the perturbation is computed under the same autocast as the training step (bf16 on
  capable CPUs), so it attacks the function being trained; the input and its gradient stay float32.
- Randomness: PGD's random start draws from the global torch RNG, which the checkpoint holds per
  rank (and is seeded per rank under torchrun), so exact resume stays bitwise and each process
  perturbs its own shard differently.
- torchrun: the attack runs on the bare module, not the DistributedDataParallel wrapper, and takes
  gradients with respect to the input only, so it starts no all-reduce; each rank attacks its shard.
- Auxiliary heads (GoogLeNet): the attack ascends the main classifier's cross-entropy; the training
  loss on the adversarial batch includes the auxiliary heads at their usual weight, as on clean ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from cnnkit.attacks.fgsm import FGSM
from cnnkit.attacks.pgd import PGD
from cnnkit.train.config import TrainConfig

__all__ = ["AdversarialTraining", "keep_batchnorm_statistics"]


@contextlib.contextmanager
def keep_batchnorm_statistics(model: nn.Module) -> Iterator[None]:
    """Forward passes inside leave every BatchNorm's running statistics as they were (values restored)."""
    saved = [
        (buffer, buffer.detach().clone())
        for module in model.modules() if isinstance(module, nn.modules.batchnorm._NormBase)
        for buffer in module.buffers(recurse=False)
    ]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


@dataclass(frozen=True, kw_only=True)
class AdversarialTraining:
    """The objective R * J(x) + (1 - R) * J(x_adv) of a Task's loss J, x_adv made by an attack object:
    FGSM (Goodfellow et al., 2015) or PGD with a random start (Madry et al., 2018)."""

    method: str            # "fgsm" or "pgd"
    eps: float             # L-inf radius, pixel units of [0, 1]
    steps: int = 1         # PGD steps (1 for FGSM)
    alpha: float | None = None  # PGD step size, pixel units; None: PGD's own default (2.5 eps / steps)
    ratio: float = 0.0     # weight of the clean loss, R in R * J(x) + (1 - R) * J(x_adv)

    @classmethod
    def from_config(cls, config: TrainConfig) -> AdversarialTraining | None:
        """The adversarial training ``config`` asks for, defaults resolved; None for a standard run."""
        settings = config.adversarial_settings
        return None if settings is None else cls(**settings)

    @property
    def attack(self) -> FGSM | PGD:
        """The attack whose ``perturb`` makes the training batch; its step size is the one stated in PGD."""
        if self.method == "fgsm":
            return FGSM(eps=self.eps)
        # seed None: the random start draws from the global torch RNG, which each checkpoint holds per rank
        return PGD(eps=self.eps, steps=self.steps, alpha=self.alpha, random_start=True, seed=None)

    @property
    def settings(self) -> dict[str, Any]:
        """What model.json records: method, eps, steps, alpha (resolved), ratio."""
        attack = self.attack
        alpha = attack.eps if isinstance(attack, FGSM) else attack.step_size
        return {"method": self.method, "eps": self.eps, "steps": self.steps, "alpha": alpha, "ratio": self.ratio}

    def examples(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        """Adversarial examples (N, C, H, W) in [0, 1], within eps of ``x``, detached; ``model`` in its current mode."""
        x = x.detach()
        with keep_batchnorm_statistics(model):
            x_adv = self.attack.perturb(model, x, y)
        return x_adv.detach()

    def batch_loss(self, task: Any, model: nn.Module, train_model: nn.Module, x: Tensor, y: Any,
                   sums: dict[str, Tensor]) -> tuple[Any, Tensor]:
        """(the clean batch's output, for the training metrics; the loss): R * J(x, y) + (1 - R) * J(x_adv, y).

        ``model`` is the bare model the attack differentiates, ``train_model`` the one trained
        (DistributedDataParallel under torchrun); the adversarial batch's metrics go to ``sums`` as "adv_".
        """
        x_adv = task.as_input(self.examples(model, x, y))  # (N, C, H, W), in the layout the model is fed
        if self.ratio > 0:
            output = train_model(x)
            clean_loss = task.loss(model, output, y)
        else:  # Madry: no clean term; one forward without gradient still gives the training metrics
            with torch.no_grad(), keep_batchnorm_statistics(model):
                output = model(x)
        adv_output = train_model(x_adv)
        loss = task.loss(model, adv_output, y)
        if self.ratio > 0:
            loss = self.ratio * clean_loss + (1 - self.ratio) * loss
        task.add_sums(sums, adv_output, y, prefix="adv_")
        return output, loss

