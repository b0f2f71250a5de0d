"""Filter-normalised random directions in weight space (Li et al., 2018, arXiv:1712.09913).

Plain random directions make landscapes of different networks incomparable: scaling a filter
before a ReLU or BatchNorm changes nothing about the function, but changes how far a fixed step
moves it. Li et al. therefore rescale each *filter* of the direction to the norm of the matching
filter of the weights, ``d_ij <- d_ij / ||d_ij|| * ||theta_ij||``, so ``alpha = 1`` moves every
filter by its own size. As in the paper's code (``ignore='biasbn'``), one-dimensional parameters
(biases, BatchNorm weights and biases) get a zero direction.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["filter_normalized_direction"]

# Added to a random filter's norm before dividing by it, as the paper's code does.
_EPS = 1e-10


def filter_normalized_direction(model: nn.Module, *, generator: torch.Generator) -> list[Tensor]:
    """A Gaussian direction with filter normalisation (Li et al., 2018), one tensor per parameter.

    Each filter (first-axis slice: a conv's output channel, a linear layer's output neuron) of
    the direction gets the norm of the same filter of the weights; parameters of one dimension
    or less (biases, BatchNorm) get zeros. Drawn on the CPU from ``generator``, so the same seed
    gives the same direction on every device and every rank.
    """
    direction = []
    for p in model.parameters():
        d = torch.randn(p.shape, generator=generator, dtype=torch.float32).to(device=p.device, dtype=p.dtype)
        if p.dim() <= 1:
            d.zero_()
        else:
            w_norm = p.detach().flatten(1).norm(dim=1)  # (out,)
            d_norm = d.flatten(1).norm(dim=1)           # (out,)
            d.mul_((w_norm / (d_norm + _EPS)).view(-1, *([1] * (p.dim() - 1))))
        direction.append(d)
    return direction
