"""FlyingChairs-style training pairs (Dosovitskiy et al., ICCV 2015, section 4.1), generated with
exact ground truth: a photographic background and foreground objects (photograph cut-outs in
random shapes, Fashion-MNIST items, textured polygons), each moved by its own random affine
motion between the two frames.

Every layer i has a placement A_i (texture to frame 1) and a motion M_i (frame 1 to frame 2),
so a frame-1 pixel x of layer i moves to M_i(x): the flow is M_i(x) - x, exact to float
rounding, for the layer visible at x (where objects overlap, the occluder's motion). A pixel
whose target is covered by another layer in frame 2 is marked occluded; a pixel whose target
leaves the frame is marked invalid. Frames are rendered by bilinear sampling of each texture
through the inverse placement and composited back to front. Everything is drawn from one seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.errors import ConfigError

__all__ = ["FlowPair", "SceneConfig", "make_pair"]


@dataclass(frozen=True)
class SceneConfig:
    """How the scenes are drawn. Displacements are in pixels of the generated frame."""

    size: tuple[int, int] = (128, 128)     # (H, W)
    objects: tuple[int, int] = (2, 6)      # fewest and most foreground objects
    object_shift: float = 6.0              # standard deviation of an object's translation ...
    max_shift: float = 24.0                # ... clipped here: sub-pixel to tens of pixels, as in FlyingChairs
    object_rotation: float = 10.0          # degrees, uniform in +-
    object_zoom: float = 0.1               # log-uniform scale change in +-
    background_shift: float = 2.0          # the background moves too, less
    background_rotation: float = 3.0
    background_zoom: float = 0.03

    def __post_init__(self) -> None:
        h, w = self.size
        if not (isinstance(h, int) and isinstance(w, int) and 16 <= h <= 4096 and 16 <= w <= 4096):
            raise ConfigError(f"scene size must be two integers in [16, 4096], got {self.size!r}")
        lo, hi = self.objects
        if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi <= 64):
            raise ConfigError(f"objects must be (fewest, most) with 0 <= fewest <= most <= 64, got {self.objects!r}")
        for name in ("object_shift", "max_shift", "object_rotation", "object_zoom", "background_shift",
                     "background_rotation", "background_zoom"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1000:
                raise ConfigError(f"{name} must be a number in [0, 1000], got {value!r}")


@dataclass
class FlowPair:
    """Two frames (3, H, W) in [0, 1], the flow (2, H, W) from the first to the second (u right, v down),
    ``valid`` (H, W): the target stays in the frame; ``occluded`` (H, W): another layer covers it in frame 2."""

    image1: Tensor
    image2: Tensor
    flow: Tensor
    valid: Tensor
    occluded: Tensor


def _affine(angle: float, scale: float, shift: tuple[float, float], centre: tuple[float, float]) -> Tensor:
    """3x3 matrix: rotate by ``angle`` (radians) and scale about ``centre``, then translate by ``shift``."""
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    cx, cy = centre
    return torch.tensor([[c, -s, cx - c * cx + s * cy + shift[0]],
                         [s, c, cy - s * cx - c * cy + shift[1]],
                         [0.0, 0.0, 1.0]], dtype=torch.float64)


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))


def _motion(g: torch.Generator, centre: tuple[float, float], shift_sd: float, max_shift: float, rotation: float,
            zoom: float) -> Tensor:
    shift = tuple(float((torch.randn((), generator=g, dtype=torch.float64) * shift_sd).clamp(-max_shift, max_shift))
                  for _ in range(2))
    angle = math.radians(_uniform(g, -rotation, rotation))
    scale = math.exp(_uniform(g, -zoom, zoom))
    return _affine(angle, scale, shift, centre)


def _shape_mask(g: torch.Generator, side: int) -> Tensor:
    """An alpha mask (1, side, side): an ellipse, a star-like polygon or a superellipse."""
    r = (torch.arange(side, dtype=torch.float64) + 0.5) / side * 2 - 1
    y, x = torch.meshgrid(r, r, indexing="ij")
    kind = int(torch.randint(3, (), generator=g))
    if kind == 0:
        a, b = _uniform(g, 0.5, 1.0), _uniform(g, 0.5, 1.0)
        inside = (x / a) ** 2 + (y / b) ** 2 <= 1
    elif kind == 1:  # a polygon with 3 to 8 vertices at random radii
        count = int(torch.randint(3, 9, (), generator=g))
        angles = torch.sort(torch.rand(count, generator=g, dtype=torch.float64) * 2 * math.pi).values
        radii = 0.5 + 0.5 * torch.rand(count, generator=g, dtype=torch.float64)
        theta = torch.atan2(y, x) % (2 * math.pi)
        radius = torch.sqrt(x * x + y * y)
        # the polygon's radius at each pixel's angle, interpolated between the vertices
        a_ext = torch.cat([angles - 2 * math.pi, angles, angles + 2 * math.pi])
        r_ext = radii.repeat(3)
        idx = torch.searchsorted(a_ext, theta.reshape(-1)).clamp(1, len(a_ext) - 1)
        a0, a1 = a_ext[idx - 1], a_ext[idx]
        t = (theta.reshape(-1) - a0) / (a1 - a0)
        edge = (r_ext[idx - 1] * (1 - t) + r_ext[idx] * t).reshape(side, side)
        inside = radius <= edge
    else:
        p = _uniform(g, 3.0, 6.0)
        inside = x.abs() ** p + y.abs() ** p <= 1
    return inside.to(torch.float32)[None]


def _crop(g: torch.Generator, image: Tensor, side: int) -> Tensor:
    """A random ``side`` x ``side`` crop of (C, H, W) float ``image`` (resized up first if it is smaller)."""
    h, w = image.shape[-2:]
    if min(h, w) < side:
        factor = side / min(h, w)
        image = F.interpolate(image[None], size=(math.ceil(h * factor), math.ceil(w * factor)), mode="bilinear",
                              align_corners=False, antialias=False)[0]
        h, w = image.shape[-2:]
    top = int(torch.randint(h - side + 1, (), generator=g))
    left = int(torch.randint(w - side + 1, (), generator=g))
    return image[:, top:top + side, left:left + side]


def _normalised(w: int, h: int) -> Tensor:
    """3x3: pixel coordinates (centres at integers) to grid_sample's [-1, 1] with align_corners=False."""
    return torch.tensor([[2 / w, 0, 1 / w - 1], [0, 2 / h, 1 / h - 1], [0, 0, 1]], dtype=torch.float64)


def _render(textures: list[tuple[Tensor, Tensor]], placements: list[Tensor], size: tuple[int, int]
            ) -> tuple[Tensor, Tensor]:
    """Composite the layers placed by ``placements`` (texture -> frame): the image and the index of the
    top layer visible at each pixel (alpha > 0.5)."""
    h, w = size
    to_frame = _normalised(w, h).inverse()                                            # [-1, 1] -> frame pixels
    image = torch.zeros(3, h, w)
    label = torch.zeros(h, w, dtype=torch.long)
    for i, ((texture, alpha), placement) in enumerate(zip(textures, placements)):
        th, tw = texture.shape[-2:]
        # frame pixel -> texture pixel (the inverse placement), between grid_sample's [-1, 1] coordinates
        theta = _normalised(tw, th) @ torch.linalg.inv(placement) @ to_frame
        grid = F.affine_grid(theta[:2].float()[None], [1, 1, h, w], align_corners=False)
        # premultiplied by alpha, so that an object's edge blends with what lies behind it, not with black
        sampled = F.grid_sample(torch.cat([texture * alpha, alpha])[None], grid, mode="bilinear",
                                padding_mode="zeros", align_corners=False)[0]
        premultiplied, a = sampled[:3], sampled[3:4]
        image = premultiplied + (1 - a) * image
        label = torch.where(a[0] > 0.5, i, label)
    return image.clamp(0, 1), label


def make_pair(seed: int, sources: list[Tensor], *, config: SceneConfig = SceneConfig(),
              items: Tensor | None = None) -> FlowPair:
    """One pair of frames with its exact flow, from ``seed``.

    ``sources``: photographs (3, H, W) float in [0, 1] (greyscale ones repeated to 3 channels),
    from which the background and the textures are cut; ``items``: optional (N, h, w) uint8 or float
    cut-out shapes (Fashion-MNIST), used as alpha masks of some objects."""
    if not sources:
        raise ConfigError("make_pair needs at least one photograph to cut the background and textures from")
    g = torch.Generator().manual_seed(seed)
    h, w = config.size
    centre = ((w - 1) / 2, (h - 1) / 2)

    def photo() -> Tensor:
        image = sources[int(torch.randint(len(sources), (), generator=g))]
        return image.expand(3, -1, -1) if image.shape[0] == 1 else image[:3]

    side = int(math.ceil(math.hypot(h, w) * 1.25))        # covers the frame at any rotation and zoom drawn
    background = (_crop(g, photo(), side), torch.ones(1, side, side))
    offset = ((side - w) / 2, (side - h) / 2)
    place = _affine(math.radians(_uniform(g, -180, 180)), 1.0, (-offset[0], -offset[1]), ((side - 1) / 2, (side - 1) / 2))
    layers, placements = [background], [place]
    motions = [_motion(g, centre, config.background_shift, config.max_shift, config.background_rotation,
                       config.background_zoom)]
    count = int(torch.randint(config.objects[0], config.objects[1] + 1, (), generator=g))
    for _ in range(count):
        size = int(_uniform(g, 0.15, 0.5) * min(h, w)) + 4
        texture = _crop(g, photo(), size)
        if items is not None and len(items) and float(torch.rand((), generator=g)) < 0.3:
            item = items[int(torch.randint(len(items), (), generator=g))].float()
            item = item / item.max().clamp(min=1e-6)
            alpha = F.interpolate(item[None, None], size=(size, size), mode="bilinear", align_corners=False)[0]
            alpha = (alpha > 0.1).float()
        else:
            alpha = _shape_mask(g, size)
        cx, cy = _uniform(g, 0, w - 1), _uniform(g, 0, h - 1)
        angle = math.radians(_uniform(g, -180, 180))
        place = _affine(angle, 1.0, (cx - (size - 1) / 2, cy - (size - 1) / 2), ((size - 1) / 2, (size - 1) / 2))
        layers.append((texture, alpha))
        placements.append(place)
        motions.append(_motion(g, (cx, cy), config.object_shift, config.max_shift, config.object_rotation,
                               config.object_zoom))
    image1, label1 = _render(layers, placements, (h, w))
    image2, label2 = _render(layers, [m @ p for m, p in zip(motions, placements)], (h, w))
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    pixels = torch.stack([xs, ys, torch.ones_like(xs)], -1)                           # (H, W, 3)
    stacked = torch.stack(motions)                                                    # (L, 3, 3)
    moved = torch.einsum("hwij,hwj->hwi", stacked[label1], pixels)[..., :2]           # each pixel by its layer
    flow = (moved - pixels[..., :2]).permute(2, 0, 1)
    tx, ty = moved[..., 0], moved[..., 1]
    valid = (tx >= -0.5) & (tx <= w - 0.5) & (ty >= -0.5) & (ty <= h - 0.5)
    ix = tx.round().long().clamp(0, w - 1)
    iy = ty.round().long().clamp(0, h - 1)
    occluded = valid & (label2[iy, ix] != label1)
    return FlowPair(image1=image1, image2=image2, flow=flow.float(), valid=valid, occluded=occluded)
