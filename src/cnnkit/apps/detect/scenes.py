"""A synthetic detection set for a CPU: objects of a few classes on photographic backgrounds, with
their boxes and labels, every image drawn from one seed.

The classes are three shapes (circle, triangle, square: colour or a photograph's texture, rotated,
stretched) and three Fashion-MNIST items whose silhouettes differ (trouser, bag, ankle boot: the
item's grey levels shade a random colour). Objects take random sizes, aspect ratios and positions
and may overlap, though never so much that one hides most of another: each new box overlaps an
earlier one by at most ``max_overlap`` IoU and covers at most ``max_covered`` of its area. A box is
the tight box of the object's own pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.apps.detect.boxes import box_iou
from cnnkit.errors import ConfigError

__all__ = ["CLASSES", "FASHION_LABELS", "DetectionSceneConfig", "Scene", "make_scene", "items_by_class"]

CLASSES = ("circle", "triangle", "square", "trouser", "bag", "ankle boot")
FASHION_LABELS = {"trouser": 1, "bag": 8, "ankle boot": 9}   # Fashion-MNIST's label of each item class
_SHAPES = ("circle", "triangle", "square")


@dataclass(frozen=True)
class DetectionSceneConfig:
    """How scenes are drawn: image (H, W), how many objects, their side in pixels, how they may overlap."""

    size: tuple[int, int] = (128, 128)
    objects: tuple[int, int] = (1, 4)
    side: tuple[int, int] = (20, 64)      # the longer side of an object's box, uniform in [lo, hi]
    aspect: float = 1.5                    # width / height log-uniform in [1 / aspect, aspect] (shapes and items)
    max_overlap: float = 0.3
    max_covered: float = 0.35

    def __post_init__(self) -> None:
        h, w = self.size
        if not all(isinstance(v, int) and 32 <= v <= 2048 for v in (h, w)):
            raise ConfigError(f"scene size must be two integers in [32, 2048], got {self.size!r}")
        lo, hi = self.objects
        if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi <= 32):
            raise ConfigError(f"objects must be (fewest, most) with 0 <= fewest <= most <= 32, got {self.objects!r}")
        small, large = self.side
        if not (isinstance(small, int) and isinstance(large, int) and 8 <= small <= large <= min(h, w)):
            raise ConfigError(f"side must be (smallest, largest) with 8 <= smallest <= largest <= {min(h, w)}, "
                              f"got {self.side!r}")
        if not 1 <= self.aspect <= 4:
            raise ConfigError(f"aspect must be in [1, 4], got {self.aspect!r}")
        if not (0 <= self.max_overlap <= 1 and 0 <= self.max_covered <= 1):
            raise ConfigError("max_overlap and max_covered must be in [0, 1]")


@dataclass
class Scene:
    """An image (3, H, W) float in [0, 1], its boxes (G, 4) (x1, y1, x2, y2) and labels (G,) into the
    class list; ``difficult`` (G,) boxes (an annotated image's) are left out of training and evaluation."""

    image: Tensor
    boxes: Tensor
    labels: Tensor
    difficult: Tensor | None = None

    def __post_init__(self) -> None:
        if self.difficult is None:
            self.difficult = torch.zeros(len(self.labels), dtype=torch.bool)


def items_by_class(images: Tensor, labels: Tensor) -> dict[str, Tensor]:
    """Fashion-MNIST images (N, 1, 28, 28) or (N, 28, 28) uint8 grouped by the item classes used here."""
    images = images.reshape(-1, 28, 28)
    return {name: images[labels == label] for name, label in FASHION_LABELS.items()}


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))


def _shape_alpha(kind: str, height: int, width: int, angle: float) -> Tensor:
    """A shape's mask (height, width), antialiased by 4x4 supersampling, rotated by ``angle`` (radians)."""
    factor = 4
    ys = (torch.arange(height * factor, dtype=torch.float64) + 0.5) / (height * factor) * 2 - 1
    xs = (torch.arange(width * factor, dtype=torch.float64) + 0.5) / (width * factor) * 2 - 1
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    if kind == "circle":
        inside = x * x + y * y <= 1
    else:
        c, s = math.cos(angle), math.sin(angle)
        u, v = c * x + s * y, -s * x + c * y
        if kind == "square":   # rotated inside its box: the half side shrinks so the corners stay in
            half = 1 / (abs(c) + abs(s))
            inside = (u.abs() <= half) & (v.abs() <= half)
        else:                  # an isoceles triangle pointing up, rotated about the box centre
            half = 1 / (abs(c) + abs(s))
            inside = (v >= -half) & (v <= half) & (u.abs() <= (half - v) / 2)
    return F.avg_pool2d(inside[None, None].float(), factor)[0, 0]


def _item_alpha(item: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """A Fashion-MNIST item resized to (height, width): its mask and its shading in [0.35, 1]."""
    grey = F.interpolate(item[None, None].float() / 255, size=(height, width), mode="bilinear", align_corners=False,
                         antialias=True)[0, 0]
    alpha = ((grey - 0.05) / 0.15).clamp(0, 1)
    return alpha, 0.35 + 0.65 * grey.clamp(0, 1)


def _paint(g: torch.Generator, photos: list[Tensor], height: int, width: int) -> Tensor:
    """A fill (3, height, width): a flat random colour, or (a third of the time) a crop of a photograph
    tinted by one, so that a textured object still differs from a background of the same photograph."""
    colour = torch.rand(3, 1, 1, generator=g)
    if float(torch.rand((), generator=g)) < 2 / 3 or not photos:
        return colour.expand(3, height, width).clone()
    photo = photos[int(torch.randint(len(photos), (), generator=g))]
    return _crop(g, photo, height, width) * 0.5 + colour * 0.5


def _crop(g: torch.Generator, photo: Tensor, height: int, width: int) -> Tensor:
    """A random (3, height, width) crop of ``photo`` (3, H, W), resized up first if it is smaller."""
    h, w = photo.shape[-2:]
    factor = max(height / h, width / w, 1.0)
    if factor > 1:
        photo = F.interpolate(photo[None], size=(math.ceil(h * factor), math.ceil(w * factor)), mode="bilinear",
                              align_corners=False)[0]
        h, w = photo.shape[-2:]
    top = int(torch.randint(h - height + 1, (), generator=g))
    left = int(torch.randint(w - width + 1, (), generator=g))
    return photo[:, top:top + height, left:left + width]


def _placement(g: torch.Generator, config: DetectionSceneConfig, boxes: list[list[float]]) -> tuple[int, int, int, int] | None:
    """Top, left, height, width of a new object that keeps the overlap rules (None after 30 tries)."""
    image_h, image_w = config.size
    for _ in range(30):
        longer = _uniform(g, config.side[0], config.side[1])
        aspect = math.exp(_uniform(g, -math.log(config.aspect), math.log(config.aspect)))
        w = round(longer * min(1.0, aspect))
        h = round(longer * min(1.0, 1 / aspect))
        h, w = max(h, 6), max(w, 6)
        top = int(torch.randint(image_h - h + 1, (), generator=g))
        left = int(torch.randint(image_w - w + 1, (), generator=g))
        if not boxes:
            return top, left, h, w
        new = torch.tensor([[left, top, left + w, top + h]], dtype=torch.float64)
        old = torch.tensor(boxes, dtype=torch.float64)
        inter = (torch.minimum(new[:, 2:], old[:, 2:]) - torch.maximum(new[:, :2], old[:, :2])).clamp(min=0).prod(1)
        covered = inter / ((old[:, 2] - old[:, 0]) * (old[:, 3] - old[:, 1]))
        if box_iou(new, old).max() <= config.max_overlap and covered.max() <= config.max_covered:
            return top, left, h, w
    return None


def make_scene(seed: int, photos: list[Tensor], items: dict[str, Tensor] | None, *,
               config: DetectionSceneConfig = DetectionSceneConfig(), classes: tuple[str, ...] = CLASSES) -> Scene:
    """The scene of ``seed``: a crop of one of ``photos`` (float (3, H, W) in [0, 1]) and its objects.

    ``items`` maps each item class to Fashion-MNIST images (N, 28, 28) uint8 (``items_by_class``); None
    draws only the shapes (the item classes stay in the label space but never appear)."""
    g = torch.Generator().manual_seed(int(seed))
    height, width = config.size
    image = _crop(g, photos[int(torch.randint(len(photos), (), generator=g))], height, width).clone()
    available = [c for c in classes if c in _SHAPES or (items is not None and len(items.get(c, ())) > 0)]
    count = int(torch.randint(config.objects[0], config.objects[1] + 1, (), generator=g))
    boxes: list[list[float]] = []
    labels: list[int] = []
    for _ in range(count):
        place = _placement(g, config, boxes)
        if place is None:
            break
        top, left, h, w = place
        kind = available[int(torch.randint(len(available), (), generator=g))]
        fill = _paint(g, photos, h, w)
        if kind in _SHAPES:
            alpha = _shape_alpha(kind, h, w, _uniform(g, -math.pi / 6, math.pi / 6))
        else:
            pool = items[kind]
            alpha, shade = _item_alpha(pool[int(torch.randint(len(pool), (), generator=g))], h, w)
            fill = fill * shade
        region = image[:, top:top + h, left:left + w]
        region.mul_(1 - alpha).add_(fill * alpha)
        rows = torch.nonzero(alpha.amax(1) > 0.5).flatten()
        cols = torch.nonzero(alpha.amax(0) > 0.5).flatten()
        if len(rows) == 0 or len(cols) == 0:
            continue
        boxes.append([left + float(cols[0]), top + float(rows[0]), left + float(cols[-1]) + 1, top + float(rows[-1]) + 1])
        labels.append(classes.index(kind))
    return Scene(image.clamp(0, 1), torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                 torch.tensor(labels, dtype=torch.long))
