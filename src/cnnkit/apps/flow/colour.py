"""Flow as a picture in the Middlebury colour wheel (Baker et al., IJCV 2011, figure 4): the
direction of a pixel's motion is its hue, the speed its saturation (white: still; fully
saturated: the largest speed shown). The wheel has 55 colours in six segments, red-yellow 15,
yellow-green 6, green-cyan 4, cyan-blue 11, blue-magenta 13, magenta-red 6, interpolated
linearly; speeds above the maximum are darkened by 25%, as in the Middlebury code.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from cnnkit.errors import ConfigError

__all__ = ["colour_wheel", "flow_legend", "flow_to_colour"]

_SEGMENTS = ((15, (255, 0, 0), (255, 255, 0)), (6, (255, 255, 0), (0, 255, 0)), (4, (0, 255, 0), (0, 255, 255)),
             (11, (0, 255, 255), (0, 0, 255)), (13, (0, 0, 255), (255, 0, 255)), (6, (255, 0, 255), (255, 0, 0)))


def colour_wheel() -> Tensor:
    """The 55 colours of the wheel, (55, 3) floats in [0, 1], from red round to red."""
    rows = []
    for count, start, end in _SEGMENTS:
        for i in range(count):
            step = math.floor(255 * i / count)  # the Middlebury code's floor(255 * (0:n-1) / n)
            rows.append([(a + (step if b > a else -step if b < a else 0)) / 255 for a, b in zip(start, end)])
    return torch.tensor(rows, dtype=torch.float64)


def flow_to_colour(flow: Tensor, *, max_speed: float | None = None) -> Tensor:
    """(2, H, W) flow (u right, v down) to (3, H, W) RGB in [0, 1]; ``max_speed`` (pixels) saturates the
    colours (None: the largest finite speed in the field). Unknown or non-finite flow is black."""
    if not isinstance(flow, Tensor) or flow.dim() != 3 or flow.shape[0] != 2:
        raise ConfigError(f"a flow field is a (2, H, W) tensor, got {tuple(flow.shape) if isinstance(flow, Tensor) else flow!r}")
    u, v = flow.double()
    known = torch.isfinite(u) & torch.isfinite(v) & (u.abs() < 1e9) & (v.abs() < 1e9)
    u, v = torch.where(known, u, 0.0), torch.where(known, v, 0.0)
    speed = torch.sqrt(u * u + v * v)
    if max_speed is None:
        max_speed = float(speed.max()) if speed.numel() else 0.0
    if not math.isfinite(max_speed) or max_speed < 0:
        raise ConfigError(f"max_speed must be a finite number >= 0, got {max_speed!r}")
    scale = max(max_speed, 1e-12)
    wheel = colour_wheel()
    n = len(wheel)
    angle = torch.atan2(-v, -u) / math.pi                  # in [-1, 1]
    position = (angle + 1) / 2 * (n - 1)                   # in [0, n - 1]
    k0 = position.floor().long()
    k1 = (k0 + 1) % n
    f = (position - k0)[..., None]
    colour = (1 - f) * wheel[k0] + f * wheel[k1]           # (H, W, 3)
    radius = (speed / scale)[..., None]
    inside = radius <= 1
    colour = torch.where(inside, 1 - radius * (1 - colour), colour * 0.75)
    colour = torch.where(known[..., None], colour, torch.zeros_like(colour))
    return colour.permute(2, 0, 1).float()


def flow_legend(size: int = 128) -> Tensor:
    """The wheel itself, (3, size, size): the colour each motion (from the centre outwards) is drawn in."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ConfigError(f"the legend is at least 8 pixels a side, got {size!r}")
    r = (torch.arange(size, dtype=torch.float64) - (size - 1) / 2) / ((size - 1) / 2)
    v, u = torch.meshgrid(r, r, indexing="ij")
    image = flow_to_colour(torch.stack([u, v]), max_speed=1.0)
    outside = (u * u + v * v) > 1
    return torch.where(outside[None], torch.ones_like(image), image)
