"""What a training step optimises and measures; fit() stays the same for every task.

Classification is the first task: cross-entropy with optional label smoothing (Szegedy et
al., 2016, arXiv:1512.00567) and top-1 accuracy. A network that defines its own
``paper_loss(output, target)`` (``lenet5_1998``: the RBF loss of LeCun et al., 1998, eq. 9)
trains with that instead; ``task_for`` builds the task that fits a network. Super-resolution, optical flow, detection
and voxel tasks will supply their own Task with the same three members.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.errors import ConfigError

__all__ = ["ClassificationTask", "task_for"]


@dataclass(frozen=True)
class ClassificationTask:
    """Cross-entropy loss (or the network's own ``criterion``) and top-1 accuracy."""

    label_smoothing: float = 0.0
    metric_name: str = "acc"
    criterion: Callable[[Tensor, Tensor], Tensor] | None = None  # replaces cross-entropy

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        """Mean loss of the batch (a scalar with gradient)."""
        if self.criterion is not None:
            return self.criterion(output, target)
        return F.cross_entropy(output.float(), target, label_smoothing=self.label_smoothing)

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
