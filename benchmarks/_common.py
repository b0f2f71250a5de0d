"""Shared by the benchmarks: the environment record, result writing, and the baseline a user
writes today (pytorch/examples' mnist/main.py recipe, adapted to Fashion-MNIST, without
torchvision: a Dataset that converts and normalises one item at a time)."""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cnnkit.data import load_dataset
from cnnkit.device import cpu_name

RESULTS = Path(__file__).parent / "results"
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530


def environment() -> dict:
    """What the numbers depend on: CPU, threads, library versions, the commit measured."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        commit = "unknown"
    return {
        "cpu": cpu_name(),
        "cores": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def summary(values: list[float]) -> dict:
    """Median, mean, spread (min, max, stdev) of repeated measurements."""
    return {
        "median": statistics.median(values),
        "mean": statistics.fmean(values),
        "min": min(values),
        "max": max(values),
        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
        "values": values,
    }


def write_result(name: str, result: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


# ---- the baseline: what pytorch/examples' mnist/main.py does, item by item -----------------

class PerItemDataset(torch.utils.data.Dataset):
    """torchvision's MNIST-style dataset: uint8 array -> PIL image -> ToTensor -> Normalize, per item."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = Image.fromarray(self.images[index], mode="L")                  # as torchvision.datasets.MNIST
        x = torch.from_numpy(np.array(image, dtype=np.uint8)).float().div(255)  # transforms.ToTensor
        x = (x.unsqueeze(0) - FASHION_MEAN) / FASHION_STD                       # transforms.Normalize
        return x, int(self.labels[index])


class ExamplesNet(nn.Module):
    """The network of pytorch/examples mnist/main.py: two convs, max-pool, dropout, two fc layers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(self.dropout1(x), 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


def fashion_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST as the (N, 28, 28) uint8 images and (N,) labels torchvision would hold."""
    data = load_dataset("fashion-mnist", split)
    return data.images[:, 0].numpy(), data.labels.numpy()


def baseline_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, loss_fn) -> tuple[int, float]:
    """One epoch of the examples' train(): returns (images, seconds)."""
    model.train()
    start, seen = time.perf_counter(), 0
    for data, target in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(data), target)
        loss.backward()
        optimizer.step()
        seen += len(target)
    return seen, time.perf_counter() - start


@torch.no_grad()
def baseline_test(model: nn.Module, loader) -> float:
    """The examples' test(): accuracy over the test loader."""
    model.eval()
    correct = total = 0
    for data, target in loader:
        correct += (model(data).argmax(1) == target).sum().item()
        total += len(target)
    return correct / total


def matmul_gmacs(repeats: int) -> float:
    """The float32 matmul rate of these threads, in GMAC/s: a 1024^3 product, the best of ``repeats``
    timings of 5 products each (the peak a convolution's rate is compared with)."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        for _ in range(5):
            a @ b
        times.append((time.perf_counter() - began) / 5)
    return 1024**3 / min(times) / 1e9
