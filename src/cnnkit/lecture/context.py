"""What the lecture's figures share: the photograph, the one small trained network, its images.

Only what a figure needs is made, the first time it is asked for: the photograph is
scikit-image's camera man, and the trained network is LeNet-5 on a small MNIST-like dataset
(Fashion-MNIST by default), trained through ``train.fit`` with a fixed seed into the lecture's
work folder and reused by every later figure and every later invocation with the same settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = ["LectureContext"]


@dataclass
class LectureContext:
    """The lecture's shared inputs; ``work`` holds the trained run between invocations."""

    work: Path
    data: str = "fashion-mnist"
    data_dir: str | None = None
    epochs: int = 2               # of LeNet-5 training: ~10 s on 2 cores for Fashion-MNIST, 88% test accuracy
    seed: int = 0
    device: str = "cpu"
    _run: Any = field(default=None, repr=False)

    def photo(self, size: int = 256) -> Tensor:
        """scikit-image's camera man, greyscale, ``(1, size, size)`` in [0, 1]."""
        from PIL import Image
        from skimage import data as photographs

        from cnnkit.data.images import image_to_tensor, resize_center_crop

        image = resize_center_crop(Image.fromarray(photographs.camera()), size)
        return image_to_tensor(image).float().div_(255)

    @property
    def run_name(self) -> str:
        return f"lenet5-{self.data}-e{self.epochs}-seed{self.seed}"

    def run(self) -> Any:
        """The trained LeNet-5 as a ``Run`` (pixels in [0, 1] in, logits out), trained once and then reused."""
        if self._run is None:
            from cnnkit.runs.format import load_run

            path = self.work / self.run_name
            if not (path / "model.json").is_file():
                self._train(path)
            self._run = load_run(path, device=self.device)
        return self._run

    def _train(self, path: Path) -> None:
        from cnnkit.train import TrainConfig, fit

        config = TrainConfig(model="lenet5", data=self.data, data_dir=self.data_dir, epochs=self.epochs,
                             seed=self.seed, device=self.device, amp="off", out=str(path.parent),
                             name=path.name, checkpoint_every=0)
        self.work.mkdir(parents=True, exist_ok=True)
        fit(config, progress=False)

    @property
    def test_accuracy(self) -> float:
        """The trained network's test accuracy, as training measured it."""
        return float(self.run().info.training.get("test_acc", float("nan")))

    def images(self, count: int, *, split: str = "test", seed: int | None = None) -> tuple[Tensor, Tensor]:
        """``count`` images (seeded choice) and labels of the network's dataset, on its device."""
        from cnnkit.runs.datasets import sample_images

        run = self.run()
        x, y = sample_images(run, count, split=split, seed=self.seed if seed is None else seed)
        device = torch.device(self.device)
        return x.to(device), y.to(device)

    def classes(self) -> list[str]:
        return list(self.run().info.classes)
