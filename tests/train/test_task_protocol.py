"""fit() trains any Task: a toy regression written here, outside the package, trains, stops on a
signal, resumes bitwise, and writes its own metrics; runs written before the Task redesign still load
and resume (tests/fixtures/runs_before_task_redesign, written by commit a1c769e)."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

import cnnkit.train.trainer as trainer
from cnnkit.data import Dataset
from cnnkit.data.batching import batch_indices, num_batches
from cnnkit.errors import TrainingInterrupted
from cnnkit.runs import evaluate, load_run, read_metrics
from cnnkit.train import TrainConfig, fit, resume
from cnnkit.device import cpu_name
from cnnkit.train.task import Built

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runs_before_task_redesign"


class Pairs:
    """(x, y) float pairs in memory: y = x @ w + 0.1 noise, batched by index like MemoryDataset."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 8, generator=g)
        self.y = self.x @ torch.linspace(-1, 1, 8) + 0.1 * torch.randn(n, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def num_batches(self, batch_size: int, drop_last: bool = False, *, world: int = 1) -> int:
        return num_batches(len(self), batch_size, drop_last, world=world)

    def batches(self, batch_size: int, *, shuffle: bool = False, generator=None, drop_last: bool = False,
                start: int = 0, shard: tuple[int, int] = (0, 1)):
        for index in batch_indices(len(self), batch_size, shuffle=shuffle, generator=generator,
                                   drop_last=drop_last, start=start, shard=shard):
            yield self.x[index], self.y[index]


class Evaluated:
    def __init__(self, mse: float) -> None:
        self.metrics = {"test_mse": mse}


class Regression:
    """A Task the trainer has never heard of: least squares, its sum of squared errors as the metric."""

    better = {"train_loss": "min", "train_mse": "min", "test_mse": "min"}
    headline = "test_mse"

    def datasets(self, config: TrainConfig, device: torch.device) -> tuple[Dataset, Dataset]:
        return Pairs(256, seed=1), Pairs(128, seed=2)

    def build(self, config: TrainConfig, train_set: Any, device: torch.device) -> Built:
        network = nn.Linear(8, 1)
        return Built(network=network, model=network.to(device), kwargs={})

    def prepare(self, batch: Any, device: torch.device, generator: torch.Generator) -> tuple[Any, Any, int]:
        x, y = batch
        x = x + 0.01 * torch.randn(x.shape, generator=generator)   # "augmentation" from the trainer's generator
        return x.to(device), y.to(device), len(y)

    def as_input(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def loss(self, model: nn.Module, output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(output.squeeze(1), targets)

    def zero_sums(self, device: torch.device) -> dict[str, torch.Tensor]:
        return {"sse": torch.zeros((), device=device, dtype=torch.float64)}

    def add_sums(self, sums, output, targets, prefix: str = "") -> None:
        sums[f"{prefix}sse"] += ((output.detach().squeeze(1) - targets) ** 2).sum().double()

    def train_metrics(self, sums, seen: int, prefix: str = "") -> dict[str, float]:
        return {f"train_{prefix}mse": sums[f"{prefix}sse"] / seen}

    @torch.no_grad()
    def evaluate(self, model, test_set, *, config, device, amp, final) -> Evaluated:
        return Evaluated(float(((model(test_set.x).squeeze(1) - test_set.y) ** 2).mean()))

    def finish(self, run_dir: Path, built: Built, *, config, test_set, evaluation, training) -> None:
        save_file({k: v.contiguous() for k, v in built.network.state_dict().items()}, run_dir / "model.safetensors")
        (run_dir / "model.json").write_text(json.dumps({"task": "regression", "training": training}))


CONFIG = dict(epochs=4, batch_size=32, lr=0.05, schedule="constant", threads=1, checkpoint_every=0)


def test_fit_trains_a_task_written_outside_the_package_and_resumes_it_bitwise(tmp_path, monkeypatch) -> None:
    reference = fit(TrainConfig(**CONFIG, out=str(tmp_path), name="ref"), task=Regression(), progress=False)
    records = read_metrics(reference.run_dir)
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]
    assert {"train_loss", "train_mse", "test_mse"} <= set(records[-1]) and "train_acc" not in records[-1]
    assert records[-1]["test_mse"] < 0.05 < records[0]["train_mse"]        # it learnt y = x w (noise var 0.01)
    assert reference.test_acc == records[-1]["test_mse"] == reference.metrics["test_mse"]
    recorded = json.loads((reference.run_dir / "model.json").read_text())["training"]
    assert recorded["test_mse"] == records[-1]["test_mse"] and recorded["steps_per_epoch"] == 8

    real_due = trainer.Trainer._checkpoint_due

    def due(self, step):
        if step == 11:                       # mid-epoch 2
            os.kill(os.getpid(), signal.SIGTERM)
        return real_due(self, step)

    monkeypatch.setattr(trainer.Trainer, "_checkpoint_due", due)
    with pytest.raises(TrainingInterrupted):
        fit(TrainConfig(**CONFIG, out=str(tmp_path), name="run"), task=Regression(), progress=False)
    monkeypatch.undo()
    resumed = resume(tmp_path / "run", task=Regression(), progress=False)
    assert (resumed.run_dir / "model.safetensors").read_bytes() == (reference.run_dir / "model.safetensors").read_bytes()
    assert [r["train_mse"] for r in read_metrics(resumed.run_dir)] == [r["train_mse"] for r in records]


def test_a_run_written_before_the_redesign_still_loads(tmp_path) -> None:
    from cnnkit.data import load_dataset

    run = load_run(FIXTURES / "finished")
    recorded = read_metrics(FIXTURES / "finished")[-1]["test_acc"]
    assert evaluate(run.model, load_dataset("digits", "test")).accuracy == pytest.approx(recorded, abs=0.02)


def test_a_checkpoint_written_before_the_redesign_resumes_to_the_uninterrupted_weights(tmp_path) -> None:
    shutil.copytree(FIXTURES / ".interrupted.partial", tmp_path / ".interrupted.partial")
    resumed = resume(tmp_path / "interrupted", progress=False).run_dir
    got, want = load_file(resumed / "model.safetensors"), load_file(FIXTURES / "finished" / "model.safetensors")
    assert got.keys() == want.keys()
    written_on = json.loads((FIXTURES / "README.json").read_text())["cpu"]
    if written_on == cpu_name():   # same CPU, same kernels: bitwise
        assert all(torch.equal(got[k], want[k]) for k in want)
    else:                          # another CPU's float32 kernels round differently over the last 38 steps
        assert all(torch.allclose(got[k].float(), want[k].float(), atol=1e-3) for k in want)
    assert [r["epoch"] for r in read_metrics(resumed)] == [1, 2]
