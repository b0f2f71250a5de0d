"""Optical flow through the one trainer and the ``cnnkit flow`` commands: a run that trains, resumes
bit for bit and reloads, .flo output equal to the network's flow, the classical methods on the same
pairs, and one line with exit code 2 for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from cnnkit.apps.flow import read_flo
from cnnkit.apps.flow.estimate import compare_methods, network_flow, open_flow_model, read_pair
from cnnkit.apps.flow.scenes import SceneConfig, make_pair
from cnnkit.errors import TrainingInterrupted
from cnnkit.runs import read_metrics
from cnnkit.train import TrainConfig, fit, resume

BASE = dict(task="flow", data="scenes", model="flownets", model_kwargs={"width": 0.125}, optimizer="adamw", lr=1e-3,
            weight_decay=0.0, schedule="cosine", batch_size=8, epochs=2, threads=1, amp="off", channels_last=False,
            task_options={"size": 64, "pairs_per_epoch": 32, "test_pairs": 4})


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    return fit(TrainConfig(**BASE, out=str(tmp_path_factory.mktemp("flow")), name="ref"), progress=False).run_dir


def test_a_flow_run_trains_and_reloads(reference):
    info = json.loads((reference / "model.json").read_text())
    assert info["task"] == "flow" and info["in_chans"] == 6 and info["input_size"] == 64
    last = read_metrics(reference)[-1]
    assert {"train_epe", "test_epe", "test_epe_occluded", "test_epe_visible"} <= set(last)
    assert "A held-out pair" in (reference / "report.html").read_text()
    network = open_flow_model(reference)
    assert network_flow(network, torch.rand(3, 50, 70), torch.rand(3, 50, 70)).shape == (2, 50, 70)


def test_a_stopped_flow_run_resumes_to_the_same_weights(reference, tmp_path, sigterm_at_step):
    with sigterm_at_step(5), pytest.raises(TrainingInterrupted):  # mid second epoch (4 steps an epoch)
        fit(TrainConfig(**BASE, out=str(tmp_path), name="run", checkpoint_every=0), progress=False)
    result = resume(tmp_path / "run", progress=False)
    assert (result.run_dir / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()


def test_tv_l1_beats_zero_flow_on_generated_pairs():
    sources = [torch.from_numpy(data.astronaut().astype(np.float32) / 255).permute(2, 0, 1)]
    pairs = [make_pair(s, sources, config=SceneConfig(size=(64, 64))) for s in range(3)]
    result = compare_methods(None, pairs, methods=("tvl1", "tvl1-tuned"))
    assert result.epe["tvl1"]["all"] < 0.8 * result.epe["zero"]["all"]
    assert result.epe["tvl1-tuned"]["all"] < result.epe["tvl1"]["all"]   # the stronger data term pays here
    assert result.seconds["tvl1-tuned"] > result.seconds["tvl1"] > 0


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("frames")
    a = data.astronaut()[:100, :120]
    paths = {"a": folder / "a.png", "b": folder / "b.png", "small": folder / "s.png", "fake": folder / "f.png"}
    Image.fromarray(a).save(paths["a"])
    Image.fromarray(np.roll(a, 2, axis=1)).save(paths["b"])
    Image.fromarray(a[:90]).save(paths["small"])
    paths["fake"].write_text("no image")
    return paths


def test_cnnkit_flow_writes_the_networks_flow(reference, frames, tmp_path, run_cli, capfd):
    code, out, err = run_cli(["flow", str(frames["a"]), str(frames["b"]), "--model", str(reference),
                              "-o", str(tmp_path / "f.flo"), "--png", str(tmp_path / "f.png")], capfd)
    assert code == 0, err
    expected = network_flow(open_flow_model(reference), *read_pair(frames["a"], frames["b"]))
    torch.testing.assert_close(read_flo(tmp_path / "f.flo"), expected)
    assert Image.open(tmp_path / "f.png").size == (120, 100)


@pytest.mark.parametrize(("which", "message"), [
    (("a", "small"), "flow needs two images of one size"),
    (("a", "fake"), "cannot decode"),
    (("a",), "Missing argument"),
])
def test_cnnkit_flow_bad_input_is_one_line(reference, frames, tmp_path, run_cli, capfd, which, message):
    code, _, err = run_cli(["flow", *(str(frames[w]) for w in which), "--model", str(reference),
                            "-o", str(tmp_path / "x.flo")], capfd)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x.flo").exists()


def test_cnnkit_flow_eval_compares_with_the_classical_methods(reference, tmp_path, run_cli, capfd):
    code, out, err = run_cli(["flow", "eval", str(reference), "--count", "2", "-o", str(tmp_path / "e")], capfd)
    assert code == 0, err
    result = json.loads((tmp_path / "e" / "eval.json").read_text())
    assert set(result["2 held-out scenes"]["epe"]) == {"zero", "network", "tvl1", "tvl1-tuned", "ilk"}
    assert set(result["the real motorcycle pair"]["epe"]) == {"zero", "network", "tvl1", "tvl1-tuned", "ilk"}
    assert (tmp_path / "e" / "example.png").is_file() and (tmp_path / "e" / "real.png").is_file() and "tvl1" in out
