"""Depth views and their back-projection, against what a view of a known solid must show."""

from __future__ import annotations

import math

import pytest
import torch

from cnnkit.apps.voxels.solids import make_solid
from cnnkit.apps.voxels.views import View, back_project, depth_view
from cnnkit.apps.voxels.voxelize import voxelize
from cnnkit.errors import ConfigError


def _cube(lo=10, hi=20, size=30):
    grid = torch.zeros(size, size, size, dtype=torch.bool)
    grid[lo:hi, lo:hi, lo:hi] = True
    return grid


def test_the_depth_of_a_cube_seen_face_on_is_its_near_face():
    grid = _cube()
    view = View(0.0, 0.0, 30)
    depth = depth_view(grid, 0.0, 0.0)
    hit = torch.isfinite(depth)
    # from +x, the near face is x = 20; the image plane is `reach` from the centre (x = 15)
    expected = view.reach - 5
    assert float(depth[hit].min()) >= expected - 0.25 and float(depth[hit].max()) <= expected + 0.25
    # the face covers 10 x 10 voxels: pixels of 2 * reach / 64 voxels on a side
    side = 10 / (2 * view.reach / 64)
    assert abs(math.sqrt(int(hit.sum())) - side) <= 1.5


@pytest.mark.parametrize("azimuth, elevation", [(0.0, 0.0), (37.0, 20.0), (200.0, -60.0), (90.0, 90.0)])
def test_back_projection_never_contradicts_the_shape(azimuth, elevation):
    grid = voxelize(make_solid("torus", 1))
    seen = back_project(depth_view(grid, azimuth, elevation), azimuth, elevation, 30)
    occupied, free = seen
    assert occupied.any() and free.any()
    assert not (occupied & ~grid).any()          # every voxel seen occupied is in the shape
    assert not (free & grid).any()               # no voxel seen free is
    assert int(occupied.sum()) < int(grid.sum())  # one view does not see the back


def test_the_seen_surface_gives_back_the_same_depth():
    grid = voxelize(make_solid("cone", 2))
    depth = depth_view(grid, 120.0, 30.0)
    again = depth_view(back_project(depth, 120.0, 30.0, 30)[0], 120.0, 30.0)
    torch.testing.assert_close(again, depth)


@pytest.mark.parametrize("azimuth, elevation", [(360.0, 0.0), (-1.0, 0.0), (0.0, 91.0), (float("nan"), 0.0)])
def test_view_angles_out_of_range_raise(azimuth, elevation):
    with pytest.raises(ConfigError, match="azimuth|elevation"):
        depth_view(_cube(), azimuth, elevation)
