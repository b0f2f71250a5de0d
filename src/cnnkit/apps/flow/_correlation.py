"""FlowNetC's correlation layer (Fischer, Dosovitskiy et al., ICCV 2015, section 3, eq. 1): the
dot product of the first image's feature vector at x with the second's at x + d, for every
displacement d = (dx, dy) with |dx|, |dy| <= ``max_displacement`` in steps of ``stride``,
divided by the number of channels (as the published code does). One output channel per
displacement, ordered row by row (dy outer, dx inner), so a (2D/s + 1)^2-channel cost volume.

Vectorised: the second map, zero-padded by D, is cut into its (2D/s + 1)^2 shifted views at
once by ``unfold`` and multiplied with the first map in one ``einsum``; no Python loop runs
over the displacements, and autograd gives the backward pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.errors import ConfigError

__all__ = ["Correlation", "correlation"]


def correlation(f1: Tensor, f2: Tensor, max_displacement: int = 4, stride: int = 1) -> Tensor:
    """(N, C, H, W) x (N, C, H, W) -> (N, (2 D / stride + 1)^2, H, W): <f1(x), f2(x + d)> / C for each d."""
    if f1.shape != f2.shape or f1.dim() != 4:
        raise ConfigError(f"correlation needs two (N, C, H, W) maps of one shape, got {tuple(f1.shape)} and "
                          f"{tuple(f2.shape)}")
    d = max_displacement
    if isinstance(d, bool) or not isinstance(d, int) or d < 0:
        raise ConfigError(f"max_displacement must be an integer >= 0, got {d!r}")
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1 or d % stride:
        raise ConfigError(f"stride must be a positive integer dividing max_displacement {d}, got {stride!r}")
    n, c, h, w = f1.shape
    k = 2 * d // stride + 1
    padded = F.pad(f2, (d, d, d, d))
    # (N, C * k * k, H * W): for every pixel, the k x k displaced feature vectors of f2
    shifted = F.unfold(padded, kernel_size=k, dilation=stride).view(n, c, k * k, h, w)
    return torch.einsum("nckhw,nchw->nkhw", shifted, f1) / c


class Correlation(nn.Module):
    """``correlation`` as a layer, so that summaries and hooks see it."""

    def __init__(self, max_displacement: int = 4, stride: int = 1) -> None:
        super().__init__()
        self.max_displacement, self.stride = max_displacement, stride

    def forward(self, f1: Tensor, f2: Tensor) -> Tensor:
        return correlation(f1, f2, self.max_displacement, self.stride)

    def extra_repr(self) -> str:
        return f"max_displacement={self.max_displacement}, stride={self.stride}"
