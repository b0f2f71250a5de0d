"""Image quality as the super-resolution papers report it: PSNR (Dong et al., 2016, eq. 1 and
section 4) and SSIM (Wang et al., IEEE TIP 2004: an 11x11 Gaussian window of sigma 1.5,
K1 = 0.01, K2 = 0.03), both on the luminance with ``scale`` pixels shaved off each border."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.errors import ConfigError

__all__ = ["psnr", "shave", "ssim"]


def shave(x: Tensor, border: int) -> Tensor:
    """``x`` (..., H, W) without ``border`` pixels on each side, as SRCNN's evaluation crops them."""
    if border < 0 or 2 * border >= min(x.shape[-2:]):
        raise ConfigError(f"border {border} leaves nothing of a {x.shape[-2]}x{x.shape[-1]} image")
    return x[..., border:x.shape[-2] - border, border:x.shape[-1] - border] if border else x


def _pair(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    if a.shape != b.shape:
        raise ConfigError(f"images of shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be compared")
    if a.dim() < 2:
        raise ConfigError(f"images must be (..., H, W), got shape {tuple(a.shape)}")
    return a.double(), b.double()


def psnr(a: Tensor, b: Tensor, *, border: int = 0, peak: float = 1.0) -> Tensor:
    """10 log10(peak^2 / MSE) per image over its last three (or two) dimensions, in dB; inf if equal."""
    a, b = _pair(shave(a, border), shave(b, border))
    dims = (-3, -2, -1) if a.dim() >= 3 else (-2, -1)
    mse = (a - b).pow(2).mean(dim=dims)
    return 10 * torch.log10(peak**2 / mse)


def _gaussian_window(sigma: float, truncate: float = 3.5) -> Tensor:
    radius = int(truncate * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(a: Tensor, b: Tensor, *, border: int = 0, peak: float = 1.0, sigma: float = 1.5) -> Tensor:
    """Mean structural similarity of single-channel images (..., H, W) (Wang et al., 2004), per image.

    Statistics are Gaussian-weighted (sigma 1.5, an 11x11 window) and the map is averaged where
    the window lies inside the image, as ``skimage.metrics.structural_similarity`` does with
    ``gaussian_weights=True, use_sample_covariance=False``.
    """
    a, b = _pair(shave(a, border), shave(b, border))
    g = _gaussian_window(sigma)
    if min(a.shape[-2:]) < len(g):
        raise ConfigError(f"SSIM needs images of at least {len(g)}x{len(g)} pixels, got {a.shape[-2]}x{a.shape[-1]}")
    lead = a.shape[:-2]
    x = torch.stack([a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:])], 1)  # (N, 2, H, W)

    def blur(t: Tensor) -> Tensor:  # separable Gaussian, valid region only
        c = t.shape[1]
        t = F.conv2d(t, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        return F.conv2d(t, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)

    mu = blur(x)
    second = blur(torch.cat([x * x, x[:, :1] * x[:, 1:]], 1))
    mu_a, mu_b = mu[:, 0], mu[:, 1]
    var_a, var_b = second[:, 0] - mu_a**2, second[:, 1] - mu_b**2
    cov = second[:, 2] - mu_a * mu_b
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return index.mean(dim=(-2, -1)).reshape(lead)

