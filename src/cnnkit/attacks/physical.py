"""Adversarial examples in the physical world: the synthetic transformations that stand in for
printing and photographing an image, and the destruction rate (Kurakin, Goodfellow & Bengio,
2017, "Adversarial examples in the physical world", arXiv:1607.02533, sections 3.1 and 4).

Section 4 of the paper measures how often brightness and contrast changes, Gaussian blur,
Gaussian noise and JPEG encoding "destroy" adversarial images (turn them back into correctly
classified ones). The default list here has those (both signs of brightness, contrast up and
down, two blurs, two noise levels, three JPEG qualities) plus a small rotation, scale and
translation, which the paper's photo transformation (crop and perspective warp) also applies.
Every transformation takes and returns pixels in [0, 1], (N, C, H, W).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.attacks.base import Attack
from cnnkit.attacks.evaluate import predict, run_attack
from cnnkit.errors import ConfigError

__all__ = [
    "DEFAULT_TRANSFORMS", "Brightness", "Contrast", "DestructionTable", "GaussianBlur", "GaussianNoise", "JPEG",
    "Rotation", "Scale", "Transform", "Translation", "destruction_rate", "destruction_table",
]


class Transform:
    """An image transformation of the physical-world experiment (Kurakin et al., 2017, section 4)."""

    @property
    def name(self) -> str:
        raise NotImplementedError

    def __call__(self, x: Tensor) -> Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class Brightness(Transform):
    """Brightness change (Kurakin et al., 2017, section 4): x + delta, clipped to [0, 1]."""

    delta: float  # pixel units in [-1, 1]

    def __post_init__(self) -> None:
        if not -1 <= self.delta <= 1:
            raise ConfigError(f"brightness delta must be in [-1, 1], got {self.delta}")

    @property
    def name(self) -> str:
        return f"brightness {self.delta:+g}"

    def __call__(self, x: Tensor) -> Tensor:
        return (x + self.delta).clamp(0, 1)


@dataclass(frozen=True)
class Contrast(Transform):
    """Contrast change (Kurakin et al., 2017, section 4): each image's deviation from its mean times factor."""

    factor: float  # 1 = unchanged, < 1 flatter, > 1 harsher

    def __post_init__(self) -> None:
        if not self.factor >= 0:
            raise ConfigError(f"contrast factor must be >= 0, got {self.factor}")

    @property
    def name(self) -> str:
        return f"contrast x{self.factor:g}"

    def __call__(self, x: Tensor) -> Tensor:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (N, 1, 1, 1)
        return (mean + self.factor * (x - mean)).clamp(0, 1)


@dataclass(frozen=True)
class GaussianBlur(Transform):
    """Gaussian blur (Kurakin et al., 2017, section 4): separable kernel of std sigma pixels, radius 3 sigma."""

    sigma: float  # pixels

    def __post_init__(self) -> None:
        if not self.sigma > 0:
            raise ConfigError(f"blur sigma must be > 0 pixels, got {self.sigma}")

    @property
    def name(self) -> str:
        return f"blur sigma={self.sigma:g}"

    def __call__(self, x: Tensor) -> Tensor:
        radius = max(1, math.ceil(3 * self.sigma))
        offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
        kernel = torch.exp(-0.5 * (offsets / self.sigma) ** 2)
        kernel = kernel / kernel.sum()
        c = x.shape[1]
        # Reflect padding keeps the image's mean at the border; it needs radius < size.
        mode = "reflect" if radius < min(x.shape[-2:]) else "replicate"
        out = F.pad(x, (radius, radius, 0, 0), mode=mode)
        out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        out = F.pad(out, (0, 0, radius, radius), mode=mode)
        out = F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
        return out.clamp(0, 1)


@dataclass(frozen=True)
class GaussianNoise(Transform):
    """Additive Gaussian noise (Kurakin et al., 2017, section 4) of std sigma, seeded, clipped to [0, 1]."""

    sigma: float    # pixel units in [0, 1]
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.sigma >= 0:
            raise ConfigError(f"noise sigma must be >= 0, got {self.sigma}")

    @property
    def name(self) -> str:
        return f"noise sigma={self.sigma:g}"

    def __call__(self, x: Tensor) -> Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return (x + self.sigma * noise).clamp(0, 1)


@dataclass(frozen=True)
class JPEG(Transform):
    """JPEG encoding at a quality (Kurakin et al., 2017, section 4): a real Pillow encode and decode."""

    quality: int  # 1 (worst) .. 95 (Pillow's best useful setting)

    def __post_init__(self) -> None:
        if not 1 <= self.quality <= 100:
            raise ConfigError(f"JPEG quality must be in 1..100, got {self.quality}")

    @property
    def name(self) -> str:
        return f"jpeg q={self.quality}"

    def __call__(self, x: Tensor) -> Tensor:
        from PIL import Image

        pixels = (x.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8)  # (N, C, H, W)
        out = []
        for image in pixels.permute(0, 2, 3, 1).numpy():  # (H, W, C)
            mode = "L" if image.shape[2] == 1 else "RGB"
            buffer = io.BytesIO()
            Image.fromarray(image[:, :, 0] if mode == "L" else image, mode).save(buffer, "JPEG", quality=self.quality)
            buffer.seek(0)
            decoded = np.asarray(Image.open(buffer).convert(mode))
            out.append(decoded.reshape(image.shape))
        back = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)  # (N, C, H, W)
        return back.to(device=x.device, dtype=x.dtype) / 255


def _affine(x: Tensor, matrix: list[list[float]]) -> Tensor:
    """Resample x through a 2x3 affine map of normalised output -> input coordinates, border pixels repeated."""
    theta = torch.tensor(matrix, dtype=x.dtype, device=x.device).expand(len(x), 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False).clamp(0, 1)


@dataclass(frozen=True)
class Rotation(Transform):
    """Rotation about the image centre by a small angle (the photo's camera tilt), bilinear."""

    degrees: float

    @property
    def name(self) -> str:
        return f"rotate {self.degrees:g} deg"

    def __call__(self, x: Tensor) -> Tensor:
        a = math.radians(self.degrees)
        return _affine(x, [[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]])


@dataclass(frozen=True)
class Scale(Transform):
    """Zoom about the image centre by factor (> 1 enlarges, as a closer camera does), bilinear."""

    factor: float

    def __post_init__(self) -> None:
        if not self.factor > 0:
            raise ConfigError(f"scale factor must be > 0, got {self.factor}")

    @property
    def name(self) -> str:
        return f"scale x{self.factor:g}"

    def __call__(self, x: Tensor) -> Tensor:
        return _affine(x, [[1 / self.factor, 0.0, 0.0], [0.0, 1 / self.factor, 0.0]])


@dataclass(frozen=True)
class Translation(Transform):
    """Shift by (dx, dy) pixels, right and down (a crop that is off by a little), bilinear."""

    dx: float
    dy: float = 0.0

    @property
    def name(self) -> str:
        return f"shift ({self.dx:g}, {self.dy:g}) px"

    def __call__(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        # Normalised coordinates span 2 over W pixels; output(u) reads input(u - d).
        return _affine(x, [[1.0, 0.0, -2 * self.dx / w], [0.0, 1.0, -2 * self.dy / h]])


DEFAULT_TRANSFORMS: tuple[Transform, ...] = (
    Brightness(0.1), Brightness(-0.1), Contrast(0.8), Contrast(1.2),
    GaussianBlur(0.5), GaussianBlur(1.0), GaussianNoise(0.02), GaussianNoise(0.05),
    JPEG(90), JPEG(75), JPEG(50), Rotation(5.0), Scale(1.1), Translation(1.0, 1.0),
)


def destruction_rate(model: nn.Module, x: Tensor, x_adv: Tensor, y: Tensor, transform: Transform, *,
                     batch_size: int = 256) -> float:
    """Destruction rate of adversarial images under a transformation (Kurakin et al., 2017, eq. 1).

    d = sum_k C(X^k, y^k) (1 - C(X_adv^k, y^k)) C(T(X_adv^k), y^k) / sum_k C(X^k, y^k) (1 - C(X_adv^k, y^k)),
    C(X, y) = 1 if the model classifies X as y, else 0: among the images classified correctly clean
    and wrongly adversarial, the fraction whose transformed adversarial image is classified
    correctly again. NaN when no image is correct clean and wrong adversarial.
    """
    if x.shape != x_adv.shape:
        raise ConfigError(f"x and x_adv must have the same shape, got {tuple(x.shape)} and {tuple(x_adv.shape)}")
    y = torch.as_tensor(y).cpu()
    if y.dim() != 1 or len(y) != len(x):
        raise ConfigError(f"y must hold one label per image: shape ({len(x)},), got {tuple(y.shape)}")
    clean_ok = predict(model, x, batch_size=batch_size).cpu() == y                         # C(X, y)
    adv_ok = predict(model, x_adv, batch_size=batch_size).cpu() == y                       # C(X_adv, y)
    moved_ok = predict(model, transform(x_adv), batch_size=batch_size).cpu() == y          # C(T(X_adv), y)
    eligible = clean_ok & ~adv_ok
    if not bool(eligible.any()):
        return float("nan")
    return float((eligible & moved_ok).sum()) / float(eligible.sum())


@dataclass(frozen=True)
class DestructionTable:
    """Destruction rate per (attack, transformation) (Kurakin et al., 2017, section 4, Figure 6)."""

    attacks: tuple[str, ...]
    transforms: tuple[str, ...]
    rates: tuple[tuple[float, ...], ...]   # rates[a][t]; NaN where no adversarial image qualified
    adv_accuracy: tuple[float, ...]        # accuracy on each attack's untransformed adversarial images
    clean_accuracy: float
    count: int

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (NaN rates as None)."""
        return {"attacks": list(self.attacks), "transforms": list(self.transforms),
                "rates": [[None if math.isnan(r) else r for r in row] for row in self.rates],
                "adv_accuracy": list(self.adv_accuracy), "clean_accuracy": self.clean_accuracy, "count": self.count}


def destruction_table(model: nn.Module, x: Tensor, y: Tensor, attacks_by_name: Mapping[str, Attack],
                      transforms: Sequence[Transform] = DEFAULT_TRANSFORMS, *, batch_size: int = 256) -> DestructionTable:
    """Each attack run once, then the destruction rate of each transformation (Kurakin et al., 2017, section 4)."""
    if not attacks_by_name or not transforms:
        raise ConfigError("give at least one attack and one transformation")
    y = torch.as_tensor(y)
    rates, adv_accuracy = [], []
    for attack in attacks_by_name.values():
        result = run_attack(attack, model, x, y, batch_size=batch_size)
        adv_accuracy.append(result.adv_accuracy)
        rates.append(tuple(destruction_rate(model, x, result.x_adv, y, t, batch_size=batch_size) for t in transforms))
    clean = float((predict(model, x, batch_size=batch_size).cpu() == y.cpu()).float().mean()) if len(x) else 0.0
    return DestructionTable(attacks=tuple(attacks_by_name), transforms=tuple(t.name for t in transforms),
                            rates=tuple(rates), adv_accuracy=tuple(adv_accuracy), clean_accuracy=clean, count=len(x))
