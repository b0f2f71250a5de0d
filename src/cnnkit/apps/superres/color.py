"""RGB <-> YCbCr as the super-resolution papers compute it: ITU-R BT.601 with studio swing
(Y in [16, 235] / 255), what MATLAB's ``rgb2ycbcr`` returns and SRCNN's PSNR is measured on."""

from __future__ import annotations

import torch
from torch import Tensor

from cnnkit.errors import ConfigError

__all__ = ["rgb_to_ycbcr", "ycbcr_to_rgb"]

# Rows: Y, Cb, Cr from R, G, B in [0, 1]; offsets in [0, 1] units (16/255, 128/255, 128/255).
_TO_YCBCR = torch.tensor([[65.481, 128.553, 24.966],
                          [-37.797, -74.203, 112.0],
                          [112.0, -93.786, -18.214]], dtype=torch.float64) / 255.0
_OFFSET = torch.tensor([16.0, 128.0, 128.0], dtype=torch.float64) / 255.0


def _check(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 3 or x.shape[-3] != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ConfigError(f"{name} must be float images (..., 3, H, W) in [0, 1], got {shape}")


def rgb_to_ycbcr(rgb: Tensor) -> Tensor:
    """(..., 3, H, W) RGB in [0, 1] to YCbCr in [0, 1] units (Y in [16, 235] / 255), BT.601."""
    _check(rgb, "rgb")
    matrix, offset = _TO_YCBCR.to(rgb), _OFFSET.to(rgb)
    return torch.einsum("ij,...jhw->...ihw", matrix, rgb) + offset[:, None, None]


def ycbcr_to_rgb(ycbcr: Tensor) -> Tensor:
    """The inverse of ``rgb_to_ycbcr`` (not clipped: values outside [0, 1] are the caller's to clamp)."""
    _check(ycbcr, "ycbcr")
    inverse, offset = torch.linalg.inv(_TO_YCBCR).to(ycbcr), _OFFSET.to(ycbcr)
    return torch.einsum("ij,...jhw->...ihw", inverse, ycbcr - offset[:, None, None])
