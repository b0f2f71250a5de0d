"""Classify image files with a trained run: decode, convert, resize as model.json says, top-k."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from cnnkit.data.images import image_to_tensor, load_image, resize_center_crop
from cnnkit.errors import ConfigError
from cnnkit.modes import device_of
from cnnkit.runs.format import ModelInfo, Run

__all__ = ["Prediction", "preprocess", "predict_files"]


@dataclass(frozen=True)
class Prediction:
    """The top-k classes of one image, most probable first."""

    path: str
    classes: list[str]
    indices: list[int]
    probabilities: list[float]


def preprocess(path: str | Path, info: ModelInfo) -> torch.Tensor:
    """An image file as the run's model expects it: (C, S, S) float in [0, 1].

    Greyscale or RGB by ``in_chans``; the shorter side resized to ``input_size`` and the
    centre cropped, as the folder datasets do. The model normalises by itself.
    """
    mode = "L" if info.in_chans == 1 else "RGB"
    image = resize_center_crop(load_image(path, mode=mode), info.input_size)
    return image_to_tensor(image).float().div_(255)


@torch.no_grad()
def predict_files(run: Run, paths: Sequence[str | Path], *, top_k: int = 3) -> list[Prediction]:
    """Top-k predictions of ``run``'s model for each image file (all decoded before any is run)."""
    if top_k < 1:
        raise ConfigError(f"top_k must be >= 1, got {top_k}")
    if not paths:
        raise ConfigError("no image given; pass one or more PNG/JPEG files")
    k = min(top_k, len(run.info.classes))
    device = device_of(run.model)
    x = torch.stack([preprocess(p, run.info) for p in paths]).to(device)  # (N, C, S, S)
    probs = run.model(x).float().softmax(1).cpu()
    top = probs.topk(k, dim=1)
    return [
        Prediction(
            path=str(path),
            classes=[run.info.classes[i] for i in idx.tolist()],
            indices=idx.tolist(),
            probabilities=[round(p, 6) for p in prob.tolist()],
        )
        for path, idx, prob in zip(paths, top.indices, top.values)
    ]
