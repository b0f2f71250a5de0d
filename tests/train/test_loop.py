"""fit() end to end on the bundled digits: the run directory, reproducibility, clean failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cnnkit.data import load_dataset
from cnnkit.errors import OutputError, UnknownDatasetError, UnknownModelError
from cnnkit.runs import evaluate, load_run, read_metrics
from cnnkit.train import TrainConfig, fit

RUN_FILES = {"config.json", "model.safetensors", "model.json", "metrics.jsonl", "report.html",
             "curves.png", "lr.png", "confusion.png", "filters.png"}


def test_run_directory_is_complete(digits_run: Path) -> None:
    assert RUN_FILES <= {p.name for p in digits_run.iterdir()}
    assert not list(digits_run.parent.glob(".*.partial"))
    metrics = read_metrics(digits_run)
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    assert all({"train_loss", "train_acc", "test_loss", "test_acc", "lr", "images_per_s"} <= set(m) for m in metrics)
    info = json.loads((digits_run / "model.json").read_text())
    assert info["architecture"] == "fastnet" and len(info["classes"]) == 10
    assert TrainConfig.from_file(digits_run / "config.json").epochs == 3


def test_loaded_run_reproduces_the_recorded_accuracy(digits_run: Path) -> None:
    run = load_run(digits_run)
    test_set = load_dataset("digits", "test")
    result = evaluate(run.model, test_set)
    recorded = read_metrics(digits_run)[-1]["test_acc"]
    # Training evaluated in bf16 autocast where the CPU has it; the reloaded model runs float32.
    assert abs(result.accuracy - recorded) <= 0.02
    assert result.accuracy > 0.85, "FastNet should learn the 8x8 digits in 3 epochs"


def test_same_config_and_seed_give_identical_weights(tmp_path: Path) -> None:
    config = TrainConfig(model="lenet5", data="digits", epochs=1, batch_size=64, out=str(tmp_path),
                         name="a", augment=True, threads=2)
    first = fit(config, progress=False).run_dir
    again = fit(TrainConfig.from_file(first / "config.json").replace(name="b"), progress=False).run_dir
    a, b = load_file(first / "model.safetensors"), load_file(again / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = fit(config.replace(name="c", seed=1), progress=False).run_dir
    c = load_file(other / "model.safetensors")
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize(
    ("changes", "error"),
    [({"model": "resnet999"}, UnknownModelError), ({"data": "cifar-1000"}, UnknownDatasetError)],
)
def test_bad_input_leaves_no_run_directory(tmp_path: Path, changes: dict, error: type) -> None:
    config = TrainConfig(**{"data": "digits", "epochs": 1, "out": str(tmp_path / "runs"), **changes})
    with pytest.raises(error):
        fit(config, progress=False)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_unwritable_output_directory_raises_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OutputError, match="cannot write to output directory"):
        fit(TrainConfig(data="digits", epochs=1, out=str(blocker / "runs")), progress=False)


def test_a_crash_in_training_keeps_the_partial_directory_with_its_checkpoint(tmp_path: Path, monkeypatch) -> None:
    import cnnkit.train.trainer as trainer

    def explode(*args, **kwargs):
        raise RuntimeError("simulated crash in the middle of training")

    monkeypatch.setattr(trainer.Trainer, "_train_epoch", explode)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(TrainConfig(data="digits", epochs=1, out=str(tmp_path), name="x"), progress=False)
    assert [p.name for p in tmp_path.iterdir()] == [".x.partial"]
    assert {"config.json", "state.json", "state.safetensors"} <= {p.name for p in (tmp_path / ".x.partial").iterdir()}


def test_a_failure_before_the_first_checkpoint_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    import cnnkit.train.state as state

    def refuse(*args, **kwargs):
        raise OutputError("simulated full disk")

    monkeypatch.setattr(state, "save_checkpoint", refuse)
    with pytest.raises(OutputError, match="simulated full disk"):
        fit(TrainConfig(data="digits", epochs=1, out=str(tmp_path), name="x"), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_trains_on_a_folder_dataset_streamed_by_workers(tmp_path: Path) -> None:
    """Class folders of PNGs of any size decode in worker processes and train end to end."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", 12), ("test", 4)):
        for label, colour in enumerate(((255, 0, 0), (0, 0, 255))):
            folder = tmp_path / "data" / split / f"class{label}"
            folder.mkdir(parents=True)
            for i in range(count):
                size = tuple(int(s) for s in rng.integers(20, 40, 2))
                pixels = np.clip(rng.normal(0, 20, (*size[::-1], 3)) + colour, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    config = TrainConfig(model="fastnet", data="folder", data_dir=str(tmp_path / "data"), image_size=16,
                         epochs=3, batch_size=8, lr=0.05, num_workers=2, out=str(tmp_path / "runs"),
                         name="f", model_kwargs={"widths": [8, 16], "depths": [1, 1]})
    result = fit(config, progress=False)
    info = json.loads((result.run_dir / "model.json").read_text())
    assert info["classes"] == ["class0", "class1"] and info["input_size"] == 16 and info["in_chans"] == 3
    assert result.test_acc == 1.0, "red against blue squares are separable"


def test_clip_grad_norm_bounds_every_step(tmp_path: Path) -> None:
    """Plain SGD moves the weights by lr x the clipped gradient, at most lr x clip_grad_norm a step."""
    base = dict(model="lenet5", data="digits", epochs=1, batch_size=64, out=str(tmp_path), optimizer="sgd",
                momentum=0.0, nesterov=False, weight_decay=0.0, schedule="constant", threads=1)
    start = load_file(fit(TrainConfig(**base, lr=1e-12, name="start"), progress=False).run_dir / "model.safetensors")
    moved = {}
    for name, clip in (("clipped", 1e-3), ("free", None)):
        run = fit(TrainConfig(**base, lr=0.1, clip_grad_norm=clip, name=name), progress=False).run_dir
        weights = load_file(run / "model.safetensors")
        moved[name] = float(torch.cat([(weights[k] - start[k]).flatten() for k in start]).norm())
        steps = json.loads((run / "model.json").read_text())["training"]["steps_per_epoch"]
    assert moved["clipped"] <= steps * 0.1 * 1e-3 * 1.001
    assert moved["free"] > 10 * moved["clipped"]
