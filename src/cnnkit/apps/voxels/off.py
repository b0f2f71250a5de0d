"""Object File Format (OFF) meshes, the format of ModelNet10/40 (Wu et al., 2015): read with every
field checked, so a bad file fails with one line naming it and the problem, and written atomically.

The format: a header ``OFF`` (or ``COFF``, colours after each vertex), the counts ``V F E``, V lines
of x y z, and F lines of ``n i_1 ... i_n`` (a polygon of n vertices, 0-based), colours allowed after
it. ``#`` starts a comment. ModelNet's known quirk, the counts glued to the header (``OFF490 518 0``),
is read too. Polygons are split into triangles as fans.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnkit.atomic import atomic_write_text
from cnnkit.errors import CorruptDataError, MissingDataError

__all__ = ["Mesh", "read_off", "write_off", "MAX_ELEMENTS"]

MAX_ELEMENTS = 10_000_000   # vertices or faces: more is a damaged count, not a mesh


@dataclass
class Mesh:
    """A triangle mesh: vertices (V, 3) float64 and faces (F, 3) int64 (0-based)."""

    vertices: np.ndarray
    faces: np.ndarray


def _tokens(text: str) -> list[list[str]]:
    lines = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            lines.append(line.split())
    return lines


def read_off(path: str | Path) -> Mesh:
    """The mesh of an OFF file; CorruptDataError naming the file for any malformed part, or for no faces."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("ascii")
    except OSError as error:
        raise MissingDataError(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise CorruptDataError(f"{path}: not an OFF file (not ASCII text)") from None
    lines = _tokens(text)
    if not lines or not lines[0][0].upper().startswith(("OFF", "COFF")):
        first = " ".join(lines[0])[:40] if lines else "an empty file"
        raise CorruptDataError(f"{path}: not an OFF file (starts with {first!r}, not 'OFF')")
    header = lines[0]
    keyword = "COFF" if header[0].upper().startswith("COFF") else "OFF"
    glued = header[0][len(keyword):]
    counts = ([glued] if glued else []) + header[1:]
    rest = lines[1:]
    if not counts:
        if not rest:
            raise CorruptDataError(f"{path}: truncated after the header (no vertex and face counts)")
        counts, rest = rest[0], rest[1:]
    try:
        n_vertices, n_faces = int(counts[0]), int(counts[1])
    except (ValueError, IndexError):
        raise CorruptDataError(f"{path}: the counts line {' '.join(counts)!r} is not 'V F E'") from None
    if not (0 <= n_vertices <= MAX_ELEMENTS and 0 <= n_faces <= MAX_ELEMENTS):
        raise CorruptDataError(f"{path}: absurd counts ({n_vertices} vertices, {n_faces} faces)")
    if n_faces == 0:
        raise CorruptDataError(f"{path}: the mesh has no faces")
    if len(rest) < n_vertices + n_faces:
        raise CorruptDataError(f"{path}: truncated: {n_vertices} vertices and {n_faces} faces announced, "
                               f"{len(rest)} lines follow")
    try:
        vertices = np.array([[float(v) for v in row[:3]] for row in rest[:n_vertices]], dtype=np.float64)
    except ValueError:
        raise CorruptDataError(f"{path}: a vertex line is not three numbers") from None
    if vertices.shape != (n_vertices, 3) or not np.isfinite(vertices).all():
        raise CorruptDataError(f"{path}: every vertex needs three finite coordinates")
    triangles = []
    for k, row in enumerate(rest[n_vertices:n_vertices + n_faces]):
        try:
            n = int(row[0])
            corners = [int(i) for i in row[1:1 + n]]
        except ValueError:
            raise CorruptDataError(f"{path}: face {k} is not 'n i_1 ... i_n' in integers") from None
        if n < 3 or len(corners) != n:
            raise CorruptDataError(f"{path}: face {k} has {len(corners)} of the {n} vertices it announces (3 at least)")
        bad = [i for i in corners if not 0 <= i < n_vertices]
        if bad:
            raise CorruptDataError(f"{path}: face {k} refers to vertex {bad[0]} of {n_vertices}")
        triangles += [(corners[0], corners[j], corners[j + 1]) for j in range(1, n - 1)]
    return Mesh(vertices, np.array(triangles, dtype=np.int64))


def write_off(mesh: Mesh, path: str | Path) -> Path:
    """``mesh`` as an OFF file (triangles), written atomically."""
    lines = ["OFF", f"{len(mesh.vertices)} {len(mesh.faces)} 0"]
    lines += [" ".join(f"{v:.9g}" for v in row) for row in np.asarray(mesh.vertices, dtype=np.float64)]
    lines += ["3 " + " ".join(str(int(i)) for i in row) for row in np.asarray(mesh.faces)]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, "\n".join(lines) + "\n")
