"""The lecture's classic filters as convolution kernels: Sobel, Laplacian, box and Gaussian low-pass.

Each returns a 2-D float tensor ``(k, k)`` to use as a kernel in ``cnnkit.ops.conv2d``;
``kernel_bank`` stacks them as the weight of a multi-channel convolution.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from cnnkit.errors import ConfigError

__all__ = ["sobel", "laplacian", "box", "gaussian", "FILTERS", "kernel_bank"]


def sobel(direction: str = "x", *, dtype: torch.dtype = torch.float32) -> Tensor:
    """Sobel (1968) derivative kernel: "x" responds to vertical edges (d/dx), "y" to horizontal ones."""
    smooth = torch.tensor([1.0, 2.0, 1.0], dtype=dtype)
    derivative = torch.tensor([-1.0, 0.0, 1.0], dtype=dtype)
    if direction == "x":
        return torch.outer(smooth, derivative)
    if direction == "y":
        return torch.outer(derivative, smooth)
    raise ConfigError(f"sobel direction must be 'x' or 'y', got {direction!r}")


def laplacian(*, dtype: torch.dtype = torch.float32) -> Tensor:
    """The 5-point discrete Laplacian: the sum of second differences along rows and columns."""
    return torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=dtype)


def box(size: int = 3, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """The box (moving average) low-pass kernel: ``size`` x ``size`` weights of 1 / size^2."""
    if not isinstance(size, int) or size < 1:
        raise ConfigError(f"box size must be a positive integer, got {size!r}")
    return torch.full((size, size), 1.0 / size**2, dtype=dtype)


def gaussian(sigma: float = 1.0, size: int | None = None, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """The Gaussian low-pass kernel, sampled and normalised to sum 1 (size 2 ceil(3 sigma) + 1 by default)."""
    if not sigma > 0:
        raise ConfigError(f"gaussian sigma must be > 0, got {sigma}")
    size = 2 * math.ceil(3 * sigma) + 1 if size is None else size
    if not isinstance(size, int) or size < 1:
        raise ConfigError(f"gaussian size must be a positive integer, got {size!r}")
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = torch.outer(g, g)
    return (kernel / kernel.sum()).to(dtype)


FILTERS = {
    "sobel-x": lambda: sobel("x"),
    "sobel-y": lambda: sobel("y"),
    "laplacian": laplacian,
    "box": lambda: box(5),
    "gaussian": lambda: gaussian(1.5),
}


def kernel_bank(names: list[str] | None = None) -> Tensor:
    """The named filters as one convolution weight ``(len(names), 1, k, k)``, smaller kernels zero-padded."""
    names = list(FILTERS) if names is None else names
    unknown = [n for n in names if n not in FILTERS]
    if unknown:
        raise ConfigError(f"unknown filter {unknown[0]!r}; choose from {', '.join(FILTERS)}")
    kernels = [FILTERS[n]() for n in names]
    size = max(k.shape[-1] for k in kernels)
    bank = torch.zeros(len(kernels), 1, size, size)
    for i, k in enumerate(kernels):
        offset = (size - k.shape[-1]) // 2
        bank[i, 0, offset : offset + k.shape[-2], offset : offset + k.shape[-1]] = k
    return bank
