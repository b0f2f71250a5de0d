"""Meshes to occupancy grids, as 3D ShapeNets prepares ModelNet (Wu et al., 2015, section 5): each
shape centred and scaled into a 24^3 box inside a 30^3 grid (3 voxels of padding on every side),
every voxel 1 if it belongs to the shape, its surface or its interior.

Centring and scaling: the mesh's bounding box is centred on the grid's centre and scaled uniformly
so that its longest side spans ``inner`` voxels; the aspect ratio is kept.

A closed mesh (every edge shared by exactly two triangles) is voxelised exactly: a voxel is occupied
when its centre is inside, by the parity of the surface crossings on a ray along z through it
(vectorised over all columns and triangles). An open or non-manifold mesh has no inside to test, so
its surface is voxelised instead (triangles subdivided until no edge is longer than a fifth of a
voxel, trimesh's ``subdivide_to_size``, and every voxel a point falls in marked) and then filled
(scipy's ``binary_fill_holes``): its interior is filled where the voxelised surface closes it off,
and otherwise only the surface is kept, which is what such a mesh describes.

Grids are indexed [x, y, z], z up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from cnnkit.apps.voxels.off import Mesh
from cnnkit.errors import CorruptDataError, MissingDataError

__all__ = ["GRID", "INNER", "voxelize", "read_grid", "normalise_vertices", "is_closed"]

GRID = 30    # 3D ShapeNets' input: 30^3 voxels ...
INNER = 24   # ... the shape inside 24^3 of them


def normalise_vertices(vertices: np.ndarray, size: int = GRID, inner: int = INNER,
                       used: np.ndarray | None = None) -> np.ndarray:
    """Vertices in grid units: the bounding box (of the ``used`` vertices: those the faces name) centred
    on the grid, its longest side ``inner`` voxels."""
    box = vertices if used is None else vertices[used]
    low, high = box.min(0), box.max(0)
    extent = float((high - low).max())
    if not np.isfinite(extent) or extent <= 0:
        raise CorruptDataError("the mesh has no extent (all its vertices coincide)")
    return (vertices - (low + high) / 2) * (inner / extent) + size / 2


def is_closed(faces: np.ndarray) -> bool:
    """Every edge shared by exactly two triangles (watertight and edge-manifold)."""
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    return bool((counts == 2).all())


def _inside(vertices: np.ndarray, faces: np.ndarray, size: int, chunk: int = 256) -> np.ndarray:
    """Voxel centres inside a closed mesh: ray parity along +z, every column at once."""
    centres = np.arange(size) + 0.5
    px, py = (c.ravel() for c in np.meshgrid(centres, centres, indexing="ij"))      # (S^2,)
    # each ray moved off the centre by an irrational hair, so that it never runs exactly through an
    # edge or a vertex (an axis-aligned face's diagonal passes through centres): each crossing counts once
    px, py = px + 1e-7 * np.sqrt(2), py + 1e-7 * np.sqrt(3)
    below = np.zeros((size * size, size), dtype=np.int64)                          # crossings under each centre
    for start in range(0, len(faces), chunk):
        a, b, c = (vertices[faces[start:start + chunk, k]] for k in range(3))      # (F, 3) each
        det = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
        keep = np.abs(det) > 1e-12                                                 # not seen edge-on from z
        a, b, c, det = a[keep], b[keep], c[keep], det[keep][:, None]
        dx, dy = px[None] - c[:, :1], py[None] - c[:, 1:2]
        l1 = ((b[:, 1:2] - c[:, 1:2]) * dx + (c[:, :1] - b[:, :1]) * dy) / det
        l2 = ((c[:, 1:2] - a[:, 1:2]) * dx + (a[:, :1] - c[:, :1]) * dy) / det
        l3 = 1 - l1 - l2
        hit = (l1 >= 0) & (l2 >= 0) & (l3 >= 0)
        z = l1 * a[:, 2:3] + l2 * b[:, 2:3] + l3 * c[:, 2:3]
        below += (hit[:, :, None] & (z[:, :, None] < centres[None, None, :])).sum(0)
    return (below % 2 == 1).reshape(size, size, size)


def _surface(vertices: np.ndarray, faces: np.ndarray, size: int) -> np.ndarray:
    import trimesh.remesh
    from scipy import ndimage

    fine, fine_faces = trimesh.remesh.subdivide_to_size(vertices, faces, max_edge=0.2, max_iter=30)
    points = np.concatenate([fine, fine[fine_faces].mean(1)])
    index = np.clip(np.floor(points).astype(np.int64), 0, size - 1)
    grid = np.zeros((size, size, size), dtype=bool)
    grid[index[:, 0], index[:, 1], index[:, 2]] = True
    return ndimage.binary_fill_holes(grid)


def voxelize(mesh: Mesh, *, size: int = GRID, inner: int = INNER, source: str = "mesh") -> Tensor:
    """The occupancy grid (size, size, size) bool of ``mesh``; ``source`` names it in errors."""
    if len(mesh.faces) == 0:
        raise CorruptDataError(f"{source}: the mesh has no faces")
    try:
        vertices = normalise_vertices(mesh.vertices, size, inner, used=np.unique(mesh.faces))
    except CorruptDataError as error:
        raise CorruptDataError(f"{source}: {error}") from None
    grid = _inside(vertices, mesh.faces, size) if is_closed(mesh.faces) else _surface(vertices, mesh.faces, size)
    if not grid.any():
        raise CorruptDataError(f"{source}: the mesh voxelises to an empty grid (it encloses no voxel centre)")
    return torch.from_numpy(grid)


def read_grid(path: str | Path, size: int = GRID) -> Tensor:
    """An occupancy grid saved with numpy (.npy): (size, size, size) of 0/1 or bool, not empty."""
    path = Path(path)
    try:
        array = np.load(path, allow_pickle=False)
    except OSError as error:
        raise MissingDataError(f"{path}: cannot read ({error.strerror or error})") from None
    except ValueError as error:
        raise CorruptDataError(f"{path}: not a numpy .npy grid ({error})") from None
    if array.shape != (size, size, size):
        raise CorruptDataError(f"{path}: the grid is {array.shape}, not ({size}, {size}, {size})")
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise CorruptDataError(f"{path}: an occupancy grid holds only 0 and 1")
    grid = torch.from_numpy(array.astype(bool))
    if not grid.any():
        raise CorruptDataError(f"{path}: the grid is empty (no occupied voxel)")
    return grid
