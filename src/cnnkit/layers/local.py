"""Locally connected layers: convolution with unshared weights (lecture: weight sharing; Taigman et al., 2014).

Each output position has its own kernel, so the layer is built for one input size. Layouts as in
cnnkit.ops.local: weight (*out_positions, C_out, C_in, *kernel), bias (C_out, *out_positions), one bias per
output channel and position. Initialised like nn.Conv2d: uniform in +-1/sqrt(C_in * prod(kernel)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cnnkit.ops.local import (
    locally_connected1d,
    locally_connected2d,
    locally_connected_weight_shape,
)

__all__ = ["LocallyConnected1d", "LocallyConnected2d"]


class _LocallyConnected(nn.Module):
    ndim = 2

    def __init__(self, in_channels: int, out_channels: int, input_size: int | Sequence[int],
                 kernel_size: int | Sequence[int], stride: int | Sequence[int] = 1,
                 padding: int | Sequence[int] = 0, bias: bool = True) -> None:
        super().__init__()
        shape = locally_connected_weight_shape(in_channels, out_channels, input_size, kernel_size, stride, padding,
                                               ndim=self.ndim, op=type(self).__name__)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.input_size = tuple(input_size) if isinstance(input_size, Sequence) else (input_size,) * self.ndim
        self.output_size = shape[:self.ndim]
        self.kernel_size = shape[self.ndim + 2:]
        self.stride, self.padding = stride, padding
        self.weight = nn.Parameter(torch.empty(shape))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, *self.output_size))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.in_channels * math.prod(self.kernel_size))
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, input_size={self.input_size}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"bias={self.bias is not None}")


class LocallyConnected1d(_LocallyConnected):
    """1D convolution with unshared weights, one kernel per output position (lecture: weight sharing)."""

    ndim = 1

    def forward(self, x: Tensor) -> Tensor:
        return locally_connected1d(x, self.weight, self.bias, self.stride, self.padding)  # (N, C_out, L_out)


class LocallyConnected2d(_LocallyConnected):
    """2D convolution with unshared weights, one kernel per output position (lecture: weight sharing)."""

    def forward(self, x: Tensor) -> Tensor:
        return locally_connected2d(x, self.weight, self.bias, self.stride, self.padding)  # (N, C_out, H_out, W_out)
