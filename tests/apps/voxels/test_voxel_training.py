"""Voxel networks through the one trainer and ``cnnkit voxels``: classification and completion runs
that train, resume bit for bit and reload; the cube's symmetries; IoU and the column baseline;
one line with exit code 2 for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cnnkit.apps.voxels.off import write_off
from cnnkit.apps.voxels.solids import make_solid
from cnnkit.apps.voxels.task import column_baseline, solid_set, symmetry, voxel_iou
from cnnkit.errors import TrainingInterrupted
from cnnkit.runs import read_metrics
from cnnkit.train import TrainConfig, fit, resume

BASE = dict(task="voxels", data="solids", optimizer="adamw", lr=1e-3, weight_decay=1e-4, schedule="cosine",
            batch_size=8, epochs=2, threads=1, amp="off", channels_last=False)


def _config(tmp_path, name, job="classify", model="voxnet", **extra):
    kwargs = {"width": 0.125} if model.startswith("shapenets") else {}
    return TrainConfig(**BASE, model=model, model_kwargs=kwargs, out=str(tmp_path), name=name,
                       task_options={"job": job, "train_shapes": 24, "test_shapes": 10}, **extra)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    return fit(_config(tmp_path_factory.mktemp("vox"), "cls"), progress=False).run_dir


@pytest.fixture(scope="module")
def completer(tmp_path_factory):
    return fit(_config(tmp_path_factory.mktemp("vox"), "cmp", job="complete", model="shapenets3d_completion"),
               progress=False).run_dir


def test_symmetries_keep_the_grid_a_permuted_flipped_copy():
    g = torch.Generator().manual_seed(0)
    grids = torch.rand(20, 1, 6, 6, 6, generator=g) > 0.7
    moved = symmetry(grids, g)
    for a, b in zip(grids, moved):
        assert int(a.sum()) == int(b.sum())
        candidates = [a.permute(0, *p).flip(f) for p in ((1, 2, 3), (1, 3, 2), (2, 1, 3), (2, 3, 1), (3, 1, 2), (3, 2, 1))
                      for f in ((), (1,), (2,), (3,), (1, 2), (1, 3), (2, 3), (1, 2, 3))]
        assert any(torch.equal(b, c) for c in candidates)


def test_voxel_iou_and_the_column_baseline():
    a = torch.zeros(1, 4, 4, 4, dtype=torch.bool)
    b = a.clone()
    a[0, :2] = True
    b[0, 1:3] = True
    assert float(voxel_iou(a, b)[0]) == pytest.approx(16 / 48)
    test = solid_set("test", 4, 30, views=1)
    columns, depth = column_baseline(test, 30, thicknesses=(2, 8), tune_on=4)
    seen = test.views[:, 0, 0]
    assert depth in (2, 8) and (columns | ~seen).all()                     # the seen surface is kept
    assert float(voxel_iou(columns, test.grids).mean()) > float(voxel_iou(seen, test.grids).mean())


def test_a_classification_run_trains_resumes_and_classifies_a_mesh(classifier, tmp_path, sigterm_at_step, run_cli,
                                                                     capfd):
    info = json.loads((classifier / "model.json").read_text())
    assert info["task"] == "voxels" and info["task_options"]["job"] == "classify" and len(info["classes"]) == 10
    assert "test_acc" in read_metrics(classifier)[-1]
    with sigterm_at_step(4), pytest.raises(TrainingInterrupted):   # mid second epoch (3 steps an epoch)
        fit(_config(tmp_path, "run", checkpoint_every=0), progress=False)
    result = resume(tmp_path / "run", progress=False)
    assert (result.run_dir / "model.safetensors").read_bytes() == (classifier / "model.safetensors").read_bytes()
    write_off(make_solid("torus", 99), tmp_path / "torus.off")
    code, out, err = run_cli(["voxels", "classify", str(tmp_path / "torus.off"), "--model", str(classifier),
                              "--json", "--top", "2"], capfd)
    assert code == 0, err
    ranked = json.loads(out)[0]["classes"]
    assert len(ranked) == 2 and ranked[0]["probability"] >= ranked[1]["probability"]


def test_a_completion_run_writes_probabilities_and_a_figure(completer, tmp_path, run_cli, capfd):
    assert {"test_iou", "test_iou_observed", "test_iou_columns"} <= set(read_metrics(completer)[-1])
    write_off(make_solid("cone", 98), tmp_path / "cone.off")
    code, out, err = run_cli(["voxels", "complete", str(tmp_path / "cone.off"), "--view", "40,25", "--model",
                              str(completer), "-o", str(tmp_path / "c.npy"), "--png", str(tmp_path / "c.png")], capfd)
    assert code == 0, err
    probability = np.load(tmp_path / "c.npy")
    assert probability.shape == (30, 30, 30) and 0 <= probability.min() and probability.max() <= 1
    assert (tmp_path / "c.png").is_file()
    code, out, err = run_cli(["voxels", "eval", str(completer), "--count", "3"], capfd)
    assert code == 0, err
    assert json.loads(out)["job"] == "complete"


@pytest.mark.parametrize("case, message", [
    ("truncated", "truncated"),
    ("view", "azimuth"),
    ("empty", "empty"),
    ("suffix", ".off"),
    ("job", "is a classify model"),
])
def test_cnnkit_voxels_bad_input_is_one_line(classifier, completer, tmp_path, run_cli, capfd, case, message):
    (tmp_path / "bad.off").write_text("OFF\n8 12 0\n0 0 0\n")
    np.save(tmp_path / "empty.npy", np.zeros((30, 30, 30), dtype=bool))
    (tmp_path / "shape.stl").write_text("solid")
    write_off(make_solid("cube", 1), tmp_path / "cube.off")
    args = {
        "truncated": ["complete", str(tmp_path / "bad.off"), "--model", str(completer)],
        "view": ["complete", str(tmp_path / "cube.off"), "--view", "400,0", "--model", str(completer)],
        "empty": ["complete", str(tmp_path / "empty.npy"), "--model", str(completer)],
        "suffix": ["classify", str(tmp_path / "shape.stl"), "--model", str(classifier)],
        "job": ["complete", str(tmp_path / "cube.off"), "--model", str(classifier)],
    }[case]
    code, _, err = run_cli(["voxels", *args, "-o", str(tmp_path / "out.npy")] if args[0] == "complete"
                           else ["voxels", *args], capfd)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out.npy").exists()


def test_cnnkit_voxels_trains_and_evaluates_on_a_modelnet_folder(tmp_path, run_cli, capfd):
    root = tmp_path / "ModelNet3"
    for name in ("torus", "cube", "cone"):
        for split, seeds in (("train", range(6)), ("test", range(100, 102))):
            for seed in seeds:
                write_off(make_solid(name, seed), root / f"my_{name}" / split / f"{name}_{seed:04d}.off")
    code, out, err = run_cli(["voxels", "train", "--data", str(root), "--model", "voxnet", "--epochs", "1",
                              "--batch-size", "6", "--threads", "1", "--out", str(tmp_path), "--name", "mn", "-q"], capfd)
    assert code == 0, err
    info = json.loads((tmp_path / "mn" / "model.json").read_text())
    assert info["classes"] == ["my_cone", "my_cube", "my_torus"] and info["kwargs"]["num_classes"] == 3
    code, out, err = run_cli(["voxels", "eval", str(tmp_path / "mn"), "--data", str(root)], capfd)
    assert code == 0, err
    assert json.loads(out)["shapes"] == 6
    (root / "my_cube" / "test" / "cube_0100.off").write_text("OFF\n8 12 0\n0 0 0\n")
    code, _, err = run_cli(["voxels", "eval", str(tmp_path / "mn"), "--data", str(root)], capfd)
    assert code == 2 and "cube_0100.off" in err and "truncated" in err and len(err.strip().splitlines()) == 1


def test_two_processes_under_torchrun_train_one_voxel_network(tmp_path, torchrun_two_processes):
    args = ["voxels", "train", "--model", "voxnet", "--shapes", "16", "--epochs", "1", "--batch-size", "8",
            "--threads", "1", "--out", str(tmp_path), "--name", "ddp", "-q"]
    training = torchrun_two_processes(args, tmp_path / "ddp")
    assert training["processes"] == 2 and len(set(training["weights_sha256"])) == 1
