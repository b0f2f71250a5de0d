"""A synthetic shape set for a CPU: ten parametric solids in random poses (free, upright or axis-aligned),
sizes and aspect ratios, as meshes (trimesh's primitives), each drawn from one seed and voxelised
like any mesh.

The classes are told apart by shape, not by size: every grid is scaled to the same 24^3 box
(voxelize.py), so "cube" and "box" differ only in their aspect ratios (a cube's sides within 10%
of each other, a box's longest at least 1.6 times its shortest), and "sphere" and "ellipsoid" the
same way.
"""

from __future__ import annotations

import math

import numpy as np

from cnnkit.apps.voxels.off import Mesh

__all__ = ["SOLIDS", "make_solid", "random_rotation"]

SOLIDS = ("cube", "box", "sphere", "ellipsoid", "cylinder", "cone", "torus", "pyramid", "capsule", "prism")


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation matrix uniform over SO(3) (a normalised Gaussian quaternion)."""
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _aspect(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _primitive(kind: str, rng: np.random.Generator):
    import trimesh.creation as create

    if kind == "cube":
        return create.box(rng.uniform(0.9, 1.1, size=3))
    if kind == "box":
        sides = np.array([1.0, _aspect(rng, 1.6, 3.0), _aspect(rng, 1.0, 3.0)])
        return create.box(rng.permutation(sides))
    if kind == "sphere":
        return create.icosphere(subdivisions=3, radius=1.0)
    if kind == "ellipsoid":
        mesh = create.icosphere(subdivisions=3, radius=1.0)
        axes = np.array([1.0, _aspect(rng, 1.6, 2.5), _aspect(rng, 1.0, 2.5)])
        mesh.apply_scale(rng.permutation(axes))
        return mesh
    if kind == "cylinder":
        return create.cylinder(radius=1.0, height=_aspect(rng, 0.8, 3.0), sections=32)
    if kind == "cone":
        return create.cone(radius=1.0, height=_aspect(rng, 1.0, 3.0), sections=32)
    if kind == "torus":
        return create.torus(major_radius=1.0, minor_radius=rng.uniform(0.25, 0.45), major_sections=32,
                            minor_sections=16)
    if kind == "pyramid":
        return create.cone(radius=1.0, height=_aspect(rng, 0.8, 2.5), sections=4)
    if kind == "capsule":
        return create.capsule(height=_aspect(rng, 0.8, 3.0), radius=1.0, count=[16, 16])
    if kind == "prism":
        return create.cylinder(radius=1.0, height=_aspect(rng, 0.6, 2.5), sections=3)
    raise ValueError(f"no solid {kind!r}; choose from {', '.join(SOLIDS)}")


def _axis_rotation(rng: np.random.Generator) -> np.ndarray:
    """One of the 24 rotations that map the coordinate axes onto themselves."""
    axes = rng.permutation(3)
    signs = rng.choice([-1.0, 1.0], size=3)
    matrix = np.zeros((3, 3))
    matrix[np.arange(3), axes] = signs
    if np.linalg.det(matrix) < 0:
        matrix[0] *= -1
    return matrix


def _upright(rng: np.random.Generator) -> np.ndarray:
    """A rotation about the z axis only (the pose of ModelNet's aligned, upright meshes)."""
    a = rng.uniform(0, 2 * np.pi)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


def make_solid(kind: str, seed: int) -> Mesh:
    """The mesh of solid ``kind`` for ``seed``: its shape parameters and a pose. A third of the poses
    are uniformly random rotations, a third upright (turned about z, as modelled meshes and ModelNet
    stand) and a third aligned with the axes, so a mesh drawn square to the grid is in the data too."""
    rng = np.random.default_rng(seed)
    mesh = _primitive(kind, rng)
    pose = rng.integers(3)
    rotation = random_rotation(rng) if pose == 0 else _upright(rng) if pose == 1 else _axis_rotation(rng)
    vertices = np.asarray(mesh.vertices, dtype=np.float64) @ rotation.T
    return Mesh(vertices, np.asarray(mesh.faces, dtype=np.int64))
