"""What a training step optimises and measures; fit() stays the same for every task.

Classification is the first task: cross-entropy with optional label smoothing (Szegedy et
al., 2016, arXiv:1512.00567) and top-1 accuracy. A network that defines its own
``paper_loss(output, target)`` (``lenet5_1998``: the RBF loss of LeCun et al., 1998, eq. 9)
trains with that instead; ``task_for`` builds the task that fits a network. Super-resolution,
optical flow, detection and voxel tasks will supply their own Task with the same three members.

Auxiliary classifiers (GoogLeNet, Szegedy et al., 2015, arXiv:1409.4842): a model whose forward
leaves ``aux_logits`` (a tuple of (N, classes) tensors) on itself in training mode gets their
cross-entropy added to the loss with weight 0.3, as in the paper; ``aux_logits(model)`` finds
them, also inside the ``Sequential(Normalize, network)`` that training builds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.errors import ConfigError

__all__ = ["ClassificationTask", "aux_logits", "task_for"]


def aux_logits(model: nn.Module) -> tuple[Tensor, ...] | None:
    """The auxiliary logits the last training forward left on ``model`` or a submodule; None if there are none."""
    for module in model.modules():
        found = getattr(module, "aux_logits", None)
        if found is not None:
            return tuple(found)
    return None


@dataclass(frozen=True)
class ClassificationTask:
    """Cross-entropy loss (or the network's own ``criterion``) and top-1 accuracy."""

    label_smoothing: float = 0.0
    metric_name: str = "acc"
    criterion: Callable[[Tensor, Tensor], Tensor] | None = None  # replaces cross-entropy
    aux_weight: float = 0.3    # weight of each auxiliary classifier's loss (Szegedy et al., 2015)

    def loss(self, output: Tensor, target: Tensor, aux: Sequence[Tensor] | None = None) -> Tensor:
        """Mean loss of the batch (a scalar with gradient), plus aux_weight x each auxiliary head's loss."""
        if self.criterion is not None:
            return self.criterion(output, target)
        smoothing = self.label_smoothing
        loss = F.cross_entropy(output.float(), target, label_smoothing=smoothing)
        for logits in aux or ():
            loss = loss + self.aux_weight * F.cross_entropy(logits.float(), target, label_smoothing=smoothing)
        return loss

    def score(self, output: Tensor, target: Tensor) -> Tensor:
        """Sum over the batch of the metric (correct predictions), as a scalar tensor."""
        return (output.argmax(1) == target).sum()


def task_for(network: nn.Module, *, label_smoothing: float = 0.0) -> ClassificationTask:
    """The task for ``network``: its ``paper_loss`` when it defines one, else cross-entropy."""
    paper_loss = getattr(network, "paper_loss", None)
    if paper_loss is None:
        return ClassificationTask(label_smoothing=label_smoothing)
    if label_smoothing:
        name = getattr(network, "cnnkit_name", type(network).__name__)
        raise ConfigError(f"{name} trains with its paper's loss, to which label smoothing does not apply; "
                          "drop --label-smoothing")
    return ClassificationTask(criterion=paper_loss)
