"""Bicubic resizing as the super-resolution papers use it: Keys' cubic with a = -0.5 and, when
shrinking, the kernel widened by the scale (antialiasing), which is what MATLAB's ``imresize``
and Pillow's BICUBIC compute; ``torch`` does the same with ``antialias=True``."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from cnnkit.errors import ConfigError

__all__ = ["bicubic", "check_scale"]


def check_scale(scale: object) -> int:
    """The upscaling factor: an integer 2, 3 or 4 (the papers' and the shipped models')."""
    if isinstance(scale, bool) or not isinstance(scale, int) or not 2 <= scale <= 4:
        raise ConfigError(f"scale must be an integer 2, 3 or 4, got {scale!r}")
    return scale


def bicubic(x: Tensor, size: tuple[int, int]) -> Tensor:
    """(N, C, H, W) floats resized to ``size`` (height, width) by antialiased bicubic, not clipped."""
    if x.dim() != 4 or not x.is_floating_point():
        raise ConfigError(f"bicubic takes float images (N, C, H, W), got {tuple(x.shape)} {x.dtype}")
    if min(size) < 1:
        raise ConfigError(f"cannot resize to {size[0]}x{size[1]} pixels")
    return F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)
