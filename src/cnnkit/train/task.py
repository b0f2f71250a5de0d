"""What a training step optimises and measures; fit() stays the same for every task.

Classification is the first task: cross-entropy with optional label smoothing (Szegedy et
al., 2016, arXiv:1512.00567) and top-1 accuracy. Super-resolution, optical flow, detection
and voxel tasks will supply their own Task with the same three members.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

__all__ = ["ClassificationTask"]


@dataclass(frozen=True)
class ClassificationTask:
    """Cross-entropy loss and top-1 accuracy on (images, labels) batches."""

    label_smoothing: float = 0.0
    metric_name: str = "acc"

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        """Mean loss of the batch (a scalar with gradient)."""
        return F.cross_entropy(output.float(), target, label_smoothing=self.label_smoothing)

    def score(self, output: Tensor, target: Tensor) -> Tensor:
        """Sum over the batch of the metric (correct predictions), as a scalar tensor."""
        return (output.argmax(1) == target).sum()
