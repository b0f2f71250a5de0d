"""How a high-resolution image becomes the low-resolution input the network learns to undo.

The lecture's warning, "highly dependent on the degradation used", is why there is more than
bicubic: ``bicubic`` (antialiased bicubic downscaling, the papers' choice), ``blur`` (Gaussian
blur of sigma 0.5 x scale, then every ``scale``-th pixel), ``jpeg`` (bicubic, then JPEG at a
quality), ``noise`` (bicubic, then Gaussian noise). Kinds combine left to right: ``blur+jpeg``.
"""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from cnnkit.apps.superres.resize import bicubic, check_scale
from cnnkit.errors import ConfigError

__all__ = ["DEGRADATIONS", "degrade", "parse_degradation"]

DEGRADATIONS = ("bicubic", "blur", "jpeg", "noise")


def parse_degradation(text: str) -> tuple[str, ...]:
    """'blur+jpeg' as ('blur', 'jpeg'); the first step shrinks (bicubic unless it is blur)."""
    steps = tuple(part.strip().lower() for part in str(text).split("+") if part.strip())
    unknown = [s for s in steps if s not in DEGRADATIONS]
    if not steps or unknown:
        raise ConfigError(f"degradation {text!r}: use {', '.join(DEGRADATIONS)} or a combination such as blur+jpeg")
    if "blur" in steps[1:]:
        raise ConfigError("blur is how an image is shrunk, so it must come first (blur+jpeg, not jpeg+blur)")
    return steps


def degrade(hr: Tensor, scale: int, kind: str = "bicubic", *, quality: int = 75, sigma: float = 0.02,
            generator: torch.Generator | None = None) -> Tensor:
    """(N, C, H, W) in [0, 1], H and W multiples of ``scale``, to (N, C, H/scale, W/scale) in [0, 1]."""
    scale = check_scale(scale)
    steps = parse_degradation(kind)
    if hr.dim() != 4 or hr.shape[-1] % scale or hr.shape[-2] % scale:
        raise ConfigError(f"images (N, C, H, W) with H and W multiples of {scale} are degraded, got {tuple(hr.shape)}")
    size = (hr.shape[-2] // scale, hr.shape[-1] // scale)
    x = _blur_subsample(hr, scale) if steps[0] == "blur" else bicubic(hr, size)
    x = x.clamp(0, 1)
    for step in steps[1:] if steps[0] in ("blur", "bicubic") else steps:
        if step == "jpeg":
            x = _jpeg(x, quality)
        elif step == "noise":
            x = (x + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)).clamp(0, 1)
    return x


def _blur_subsample(hr: Tensor, scale: int) -> Tensor:
    sigma = 0.5 * scale
    radius = int(3 * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=hr.dtype, device=hr.device)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    c = hr.shape[1]
    x = F.pad(hr, (radius,) * 4, mode="replicate")
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    x = F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    offset = (scale - 1) // 2  # the centre of each scale x scale cell
    return x[..., offset::scale, offset::scale]


def _jpeg(x: Tensor, quality: int) -> Tensor:
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 95:
        raise ConfigError(f"JPEG quality must be an integer in [1, 95], got {quality!r}")
    out = []
    for image in x:
        pixels = (image.detach().cpu().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        mode = "L" if pixels.shape[2] == 1 else "RGB"
        buffer = io.BytesIO()
        Image.fromarray(pixels.squeeze(2) if mode == "L" else pixels, mode=mode).save(buffer, "JPEG", quality=quality)
        decoded = np.asarray(Image.open(buffer).convert(mode), dtype=np.float32) / 255
        out.append(torch.from_numpy(decoded.reshape(*decoded.shape[:2], -1)).permute(2, 0, 1))
    return torch.stack(out).to(x)
