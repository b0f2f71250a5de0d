"""OFF meshes read and written with every bad file named in one line; voxelisation against the
meshes' exact volumes and an analytic box; the parametric solids deterministic from a seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnkit.apps.voxels.off import Mesh, read_off, write_off
from cnnkit.apps.voxels.solids import SOLIDS, make_solid
from cnnkit.apps.voxels.voxelize import GRID, INNER, is_closed, read_grid, voxelize
from cnnkit.errors import CorruptDataError


def _box(sides=(1.0, 2.0, 3.0)) -> Mesh:
    import trimesh.creation

    mesh = trimesh.creation.box(sides)
    return Mesh(np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64))


def test_off_round_trip_and_polygons(tmp_path):
    box = _box()
    back = read_off(write_off(box, tmp_path / "box.off"))
    np.testing.assert_allclose(back.vertices, box.vertices)
    assert (back.faces == box.faces).all()
    # a quad and a pentagon become fans of triangles; counts glued to the header as ModelNet has them
    (tmp_path / "poly.off").write_text("OFF6 2 0\n# a comment\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n0.5 2 0\n-1 1 0\n"
                                       "4 0 1 2 3\n5 0 1 2 4 5 255 0 0\n")
    poly = read_off(tmp_path / "poly.off")
    assert poly.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 1, 2], [0, 2, 4], [0, 4, 5]]


@pytest.mark.parametrize("text, problem", [
    ("PLY\n3 1 0\n", "not an OFF file"),
    ("", "not an OFF file"),
    ("OFF\n4 2 0\n0 0 0\n1 0 0\n", "truncated"),
    ("OFF\n3 99999999999 0\n", "absurd counts"),
    ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n", "refers to vertex 7 of 3"),
    ("OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n", "no faces"),
    ("OFF\n3 1 0\n0 0 0\n1 x 0\n0 1 0\n3 0 1 2\n", "not three numbers"),
    ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n4 0 1 2\n", "has 3 of the 4"),
    ("OFF\nthree one zero\n", "counts line"),
])
def test_bad_off_files_name_the_file_and_the_problem(tmp_path, text, problem):
    path = tmp_path / "bad.off"
    path.write_text(text)
    with pytest.raises(CorruptDataError, match=problem) as caught:
        read_off(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_an_axis_aligned_box_voxelises_to_its_exact_voxels():
    grid = voxelize(_box((1.0, 2.0, 3.0)))
    # longest side 3 -> 24 voxels: the box spans 8 x 16 x 24 voxels centred in the 30^3 grid
    expected = torch.zeros(GRID, GRID, GRID, dtype=torch.bool)
    expected[11:19, 7:23, 3:27] = True
    assert torch.equal(grid, expected)


@pytest.mark.parametrize("kind", SOLIDS)
def test_every_solid_fills_its_exact_volume(kind):
    import trimesh

    mesh = make_solid(kind, 3)
    assert is_closed(mesh.faces)
    surface = trimesh.Trimesh(mesh.vertices, mesh.faces)
    scale = INNER / (surface.bounds[1] - surface.bounds[0]).max()
    volume = surface.volume * scale ** 3   # in voxels, by the divergence theorem
    area = surface.area * scale ** 2
    count = int(voxelize(mesh).sum())
    # centre sampling errs by under half a voxel across each face: at most that times the surface,
    # much less when the faces lie at random angles to the grid
    assert abs(count - volume) <= 0.35 * area


def test_an_open_mesh_keeps_its_surface():
    box = _box((2.0, 2.0, 2.0))
    open_box = Mesh(box.vertices, box.faces[2:])   # two triangles (one side) removed
    assert not is_closed(open_box.faces)
    closed, shell = voxelize(box), voxelize(open_box)
    assert int(closed[3:27, 3:27, 3:27].sum()) == 24 ** 3          # closed: solid
    assert int(shell[4:26, 4:26, 4:26].sum()) == 0                 # open: nothing inside, the outside reaches in
    assert int(shell.sum()) >= 5 * 22 * 22                         # but its five remaining sides are there


def test_degenerate_meshes_and_grids_are_refused(tmp_path):
    flat = Mesh(np.zeros((3, 3)), np.array([[0, 1, 2]]))
    with pytest.raises(CorruptDataError, match="no extent"):
        voxelize(flat, source="flat.off")
    np.save(tmp_path / "empty.npy", np.zeros((GRID, GRID, GRID), dtype=bool))
    with pytest.raises(CorruptDataError, match="empty"):
        read_grid(tmp_path / "empty.npy")
    np.save(tmp_path / "small.npy", np.ones((8, 8, 8), dtype=bool))
    with pytest.raises(CorruptDataError, match="not \\(30, 30, 30\\)"):
        read_grid(tmp_path / "small.npy")
    (tmp_path / "text.npy").write_text("not numpy")
    with pytest.raises(CorruptDataError, match="text.npy"):
        read_grid(tmp_path / "text.npy")


def test_solids_are_deterministic_from_a_seed_and_differ_between_seeds():
    a, b, c = make_solid("torus", 5), make_solid("torus", 5), make_solid("torus", 6)
    np.testing.assert_array_equal(a.vertices, b.vertices)
    assert not np.allclose(a.vertices, c.vertices)
    assert not torch.equal(voxelize(a), voxelize(c))


def test_modelnet_layout_lists_meshes_by_class(tmp_path):
    from cnnkit.apps.voxels.modelnet import read_modelnet
    from cnnkit.errors import DataError

    for name in ("chair", "bed"):
        for split in ("train", "test"):
            for k in range(2 if split == "train" else 1):
                write_off(_box(), tmp_path / name / split / f"{name}_{k:04d}.off")
    train = read_modelnet(tmp_path, "train")
    assert train.classes == ("bed", "chair") and train.labels == [0, 0, 1, 1]
    assert [p.name for p in train.files] == ["bed_0000.off", "bed_0001.off", "chair_0000.off", "chair_0001.off"]
    assert read_modelnet(tmp_path, "test").labels == [0, 1]
    (tmp_path / "desk" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="desk/test"):
        read_modelnet(tmp_path, "test")
