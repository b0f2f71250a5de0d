"""The shipped voxel models: in the package, small, reproducible by the command they name, the
defaults of ``cnnkit voxels``, and right on meshes written by hand the way other tools write them."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from cnnkit.apps.voxels.files import SHIPPED, open_voxel_model
from cnnkit.apps.voxels.task import evaluate_voxels, held_out_set


@pytest.mark.parametrize("job", ["classify", "complete"])
def test_the_shipped_models_are_small_and_name_their_command_and_commit(job):
    folder = SHIPPED[job]
    assert (folder / "model.safetensors").stat().st_size < 5_000_000
    record = json.loads((folder / "reproduce.json").read_text())
    assert re.fullmatch(r"[0-9a-f]{40}", record["commit"])
    args = shlex.split(record["command"])
    assert args[:3] == ["cnnkit", "voxels", "train"] and args[args.index("--name") + 1] == record["run_name"]
    assert json.loads((folder / "model.json").read_text())["task_options"]["job"] == job


def _write(path: Path, vertices, faces) -> Path:
    lines = ["OFF", "# written by hand: quads and n-gons, as modellers export", f"{len(vertices)} {len(faces)} 0"]
    lines += [" ".join(f"{c:.6f}" for c in v) for v in vertices]
    lines += [" ".join(str(i) for i in (len(f), *f)) for f in faces]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def hand_made(tmp_path):
    cube = [(x, y, z) for x in (0, 2) for y in (0, 2) for z in (0, 2)]
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    n, h = 40, 3.0
    ring = [(np.cos(2 * np.pi * j / n), np.sin(2 * np.pi * j / n)) for j in range(n)]
    cylinder = [(x, y, 0.0) for x, y in ring] + [(x, y, h) for x, y in ring]
    sides = [(j, (j + 1) % n, n + (j + 1) % n, n + j) for j in range(n)]
    caps = [tuple(range(n - 1, -1, -1)), tuple(range(n, 2 * n))]
    return {"cube": _write(tmp_path / "cube.off", cube, quads),
            "cylinder": _write(tmp_path / "cylinder.off", cylinder, sides + caps)}


def test_cnnkit_voxels_classifies_hand_made_meshes_with_the_shipped_model(hand_made, run_cli, capfd):
    code, out, err = run_cli(["voxels", "classify", str(hand_made["cube"]), str(hand_made["cylinder"]), "--json"],
                             capfd)
    assert code == 0, err
    best = [r["classes"][0]["class"] for r in json.loads(out)]
    assert best == ["cube", "cylinder"]


def test_the_shipped_classifier_on_held_out_solids():
    model = open_voxel_model(None, "classify")
    assert evaluate_voxels(model.network, held_out_set("classify", model.size, 60)[0], "classify").metrics["test_acc"] >= 0.9


def test_the_shipped_completion_beats_both_baselines(tmp_path, run_cli, capfd):
    model = open_voxel_model(None, "complete")
    metrics = evaluate_voxels(model.network, held_out_set("complete", model.size, 30)[0], "complete").metrics
    assert metrics["test_iou"] >= metrics["test_iou_observed"] + 0.15
    assert metrics["test_iou"] > metrics["test_iou_columns"]
