"""One 2.5D depth view of a voxel grid, and its back-projection into what the view tells about each
voxel (Wu et al., 2015, section 4: "observed surface", "observed free space", "unknown").

The camera is orthographic, outside the grid, looking at its centre from ``azimuth`` degrees
about the z axis (0: from +x) and ``elevation`` degrees above the xy plane. Its image plane is
square, ``pixels`` on a side, wide enough for the grid's bounding sphere. A pixel's ray marches
in steps of a quarter voxel, and its depth is the distance from the image plane to the first
occupied voxel it meets (infinite if none). Back-projection walks the same rays: voxels a ray
crosses before its depth are free, the voxel at its depth is observed occupied, and voxels behind
it or on no ray stay unknown.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from cnnkit.errors import ConfigError

__all__ = ["View", "check_view", "depth_view", "back_project", "fill_behind", "seen_from", "PIXELS"]

PIXELS = 64
_STEP = 0.25


class View:
    """An orthographic camera around a grid of ``size`` voxels: ray origins (P, 3) and direction (3,)."""

    def __init__(self, azimuth: float, elevation: float, size: int, pixels: int = PIXELS) -> None:
        check_view(azimuth, elevation)
        a, e = math.radians(azimuth), math.radians(elevation)
        toward = -torch.tensor([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)], dtype=torch.float64)
        right = torch.tensor([-math.sin(a), math.cos(a), 0.0], dtype=torch.float64)
        up = torch.cross(right, toward, dim=0)
        self.reach = size * math.sqrt(3) / 2 + 1          # the grid's bounding sphere, and a voxel more
        spacing = 2 * self.reach / pixels
        offsets = (torch.arange(pixels, dtype=torch.float64) + 0.5) * spacing - self.reach
        rows, cols = torch.meshgrid(-offsets, offsets, indexing="ij")   # row 0 at the top
        plane = -toward * self.reach + rows.reshape(-1, 1) * up + cols.reshape(-1, 1) * right
        self.origins = plane + size / 2                    # grid coordinates: voxel i spans [i, i + 1)
        self.direction = toward
        self.size, self.pixels = size, pixels
        self.steps = torch.arange(0, 2 * self.reach, _STEP, dtype=torch.float64) + _STEP / 2

    def voxels(self) -> tuple[Tensor, Tensor]:
        """For every ray and step, the voxel index (P, T) flattened (-1 outside the grid), and the depth (T,)."""
        points = self.origins[:, None, :] + self.steps[None, :, None] * self.direction
        index = torch.floor(points).long()
        inside = ((index >= 0) & (index < self.size)).all(-1)
        flat = (index[..., 0] * self.size + index[..., 1]) * self.size + index[..., 2]
        return torch.where(inside, flat, -1), self.steps


def check_view(azimuth: float, elevation: float) -> None:
    """Azimuth in [0, 360), elevation in [-90, 90] degrees, or ConfigError."""
    if not (isinstance(azimuth, (int, float)) and math.isfinite(azimuth) and 0 <= azimuth < 360):
        raise ConfigError(f"azimuth must be in [0, 360) degrees, got {azimuth!r}")
    if not (isinstance(elevation, (int, float)) and math.isfinite(elevation) and -90 <= elevation <= 90):
        raise ConfigError(f"elevation must be in [-90, 90] degrees, got {elevation!r}")


def depth_view(grid: Tensor, azimuth: float, elevation: float, pixels: int = PIXELS,
               marched: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """The depth map (pixels, pixels) of occupancy ``grid`` (S, S, S) seen from the view; inf: no hit.
    ``marched``: the view's ``voxels()``, when the caller has them already."""
    flat, depths = marched if marched is not None else View(azimuth, elevation, grid.shape[0], pixels).voxels()
    occupied = grid.reshape(-1)[flat.clamp(min=0)] & (flat >= 0)          # (P, T)
    first = torch.where(occupied.any(1), occupied.float().argmax(1), -1)
    depth = torch.where(first >= 0, depths[first.clamp(min=0)], torch.inf)
    side = math.isqrt(len(flat))
    return depth.view(side, side).float()


def back_project(depth: Tensor, azimuth: float, elevation: float, size: int,
                 marched: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """What a depth map (pixels, pixels) says of each voxel of a (size^3) grid: (2, S, S, S) bool,
    channel 0 observed occupied, channel 1 observed free; neither: unknown."""
    flat, depths = marched if marched is not None else View(azimuth, elevation, size, depth.shape[-1]).voxels()
    d = depth.reshape(-1, 1).double()
    seen = flat >= 0
    hit_step = seen & (torch.abs(depths[None, :] - d) <= _STEP / 2 + 1e-9)
    free_step = seen & (depths[None, :] < d - _STEP / 2 - 1e-9)
    occupied = torch.zeros(size ** 3, dtype=torch.bool)
    free = torch.zeros(size ** 3, dtype=torch.bool)
    occupied[flat[hit_step]] = True
    free[flat[free_step]] = True
    free &= ~occupied    # a voxel a ray grazes before another ray's hit in it is the surface
    return torch.stack([occupied, free]).view(2, size, size, size)


def fill_behind(depth: Tensor, azimuth: float, elevation: float, size: int, thickness: float) -> Tensor:
    """The column baseline of completion: along each pixel's ray, the voxels from its depth to
    ``thickness`` voxels behind it occupied, as if every seen surface were a slab that thick. (S, S, S) bool."""
    view = View(azimuth, elevation, size, depth.shape[-1])
    flat, depths = view.voxels()
    d = depth.reshape(-1, 1).double()
    slab = (flat >= 0) & (depths[None, :] >= d - _STEP / 2) & (depths[None, :] <= d + thickness)
    grid = torch.zeros(size ** 3, dtype=torch.bool)
    grid[flat[slab]] = True
    return grid.view(size, size, size)


def seen_from(grid: Tensor, azimuth: float, elevation: float, pixels: int = PIXELS) -> tuple[Tensor, Tensor]:
    """The depth map of ``grid`` from the view and its back-projection, the rays marched once."""
    marched = View(azimuth, elevation, grid.shape[0], pixels).voxels()
    depth = depth_view(grid, azimuth, elevation, pixels, marched)
    return depth, back_project(depth, azimuth, elevation, grid.shape[0], marched)
