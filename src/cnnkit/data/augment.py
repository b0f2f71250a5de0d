"""Data augmentation and normalisation applied to whole batches (lecture: data augmentation).

Random crops with zero padding and horizontal flips (Krizhevsky et al., 2012) are drawn
per sample but applied with one indexing operation per batch, as in airbench (Jordan,
2024), so no Python loop runs per image. Random numbers are drawn on the CPU from the
caller's ``torch.Generator`` and moved to the batch's device, so the same seed gives the
same augmentation on every device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.data.spec import DatasetSpec
from cnnkit.errors import ConfigError

__all__ = ["augment_batch", "normalize", "random_crop", "random_hflip", "to_float"]


def _check_batch(x: Tensor, what: str) -> None:
    if x.dim() != 4:
        raise ConfigError(f"{what} needs a batch (N, C, H, W); got shape {tuple(x.shape)}")


def to_float(x: Tensor) -> Tensor:
    """uint8 pixels 0..255 to float32 in [0, 1], the pixel space every cnnkit model takes."""
    if x.dtype != torch.uint8:
        raise ConfigError(f"to_float expects uint8 pixels; got {x.dtype}; pass the dataset's batch as is")
    return x.to(torch.float32).div_(255.0)


def random_crop(x: Tensor, padding: int, generator: torch.Generator | None = None) -> Tensor:
    """Pad each image with ``padding`` zeros and crop back at a random offset (Krizhevsky et al., 2012).

    Offsets are ``torch.randint(0, 2 * padding + 1, (N, 2), generator=generator)`` as (dy, dx),
    one pair per sample; the result has x's shape, dtype and device.
    """
    _check_batch(x, "random_crop")
    if padding < 0:
        raise ConfigError(f"random_crop padding={padding}; give 0 or more pixels")
    if padding == 0 or x.shape[0] == 0:
        return x.clone()
    n, c, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator).to(x.device)
    padded = F.pad(x, (padding, padding, padding, padding))  # (N, C, H+2p, W+2p), zeros
    rows = offsets[:, 0, None] + torch.arange(h, device=x.device)  # (N, H)
    cols = offsets[:, 1, None] + torch.arange(w, device=x.device)  # (N, W)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chans, rows[:, None, :, None], cols[:, None, None, :]]  # (N, C, H, W)


def random_hflip(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Mirror each image left-right with probability 1/2 (Krizhevsky et al., 2012).

    The choice is ``torch.rand(N, generator=generator) < 0.5`` per sample.
    """
    _check_batch(x, "random_hflip")
    flip = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def normalize(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """Per-channel standardisation ``(x - mean) / std`` (lecture: data preprocessing)."""
    _check_batch(x, "normalize")
    if len(mean) != x.shape[1] or len(std) != x.shape[1]:
        raise ConfigError(
            f"normalize got {len(mean)} means and {len(std)} stds for {x.shape[1]} channels; "
            f"give one of each per channel"
        )
    if not x.dtype.is_floating_point:
        raise ConfigError(f"normalize expects float pixels in [0, 1]; got {x.dtype}; call to_float first")
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def augment_batch(x: Tensor, spec: DatasetSpec, generator: torch.Generator | None = None) -> Tensor:
    """Default training augmentation: padded random crop, then a flip where it keeps the class."""
    x = random_crop(x, spec.crop_padding, generator)
    return random_hflip(x, generator) if spec.hflip else x
