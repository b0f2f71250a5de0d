"""The optimisers of a run: SGD with (Nesterov) momentum, or AdamW (Loshchilov & Hutter, 2019).

Weight decay applies to weights only: biases and normalisation parameters (every tensor
with one dimension) are not decayed, the usual practice since Goyal et al. (2017).
"""

from __future__ import annotations

import torch
from torch import nn

from cnnkit.train.config import TrainConfig

__all__ = ["make_optimizer"]


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Build the configured optimiser with decay on weights and none on biases and norms."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, betas=(config.momentum, 0.999))
    return torch.optim.SGD(
        groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov and config.momentum > 0
    )
