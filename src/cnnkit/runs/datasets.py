"""The dataset a run was trained on, rebuilt from the run's own files (model.json names it,
config.json says where its files were), and seeded samples of it for explain and attack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cnnkit.data import is_folder_dataset, load_dataset
from cnnkit.errors import ConfigError, RunDirError
from cnnkit.files import MIB, read_json
from cnnkit.runs.format import CONFIG_FILE, Run
from cnnkit.runs.opening import check_seed
from cnnkit.schema import Fields, shown

__all__ = ["dataset_for", "sample_images", "trained_data_dir"]


def sample_images(
    run: Run,
    count: int,
    *,
    data: str | None = None,
    data_dir: str | Path | None = None,
    split: str = "test",
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """``count`` images (seeded random choice) and labels from the run's dataset, pixels in [0, 1].

    ``data`` defaults to the dataset the run was trained on, read from the same place.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"count must be an integer >= 1 image, got {shown(count)}")
    check_seed(seed)
    dataset = dataset_for(run, data=data, data_dir=data_dir, split=split)
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(dataset), generator=generator)[: min(count, len(dataset))]
    if hasattr(dataset, "images"):
        x, y = dataset.images[chosen], dataset.labels[chosen]
    else:
        from cnnkit.data.folders import FolderDataset

        subset = FolderDataset([dataset.samples[i] for i in chosen.tolist()], dataset.spec,
                               image_size=dataset.image_size, num_workers=0)
        x, y = next(subset.batches(len(subset)))
    return x.float().div_(255), y


def dataset_for(run: Run, *, data: str | None = None, data_dir: str | Path | None = None, split: str = "test"):  # type: ignore[no-untyped-def]
    """The dataset split that fits ``run``'s model: its own by default (read from where it was trained),
    checked against model.json; ``cnnkit eval``, ``explain`` and ``attack`` all load their images here."""
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
    name = data or run.info.dataset
    if name is None:
        owner = f"{run.path} records no dataset (its weights were imported)" if run.path is not None else (
            "a registered model name has no dataset")
        raise ConfigError(f"{owner}; pass --data NAME")
    if data_dir is None and name == run.info.dataset and run.path is not None:
        data_dir = trained_data_dir(run.path)
    size = run.info.input_size
    dataset = load_dataset(name, split, data_dir=data_dir, image_size=size if is_folder_dataset(name) else None)
    spec = dataset.spec
    shape, expected = (spec.in_chans, *spec.image_size), (run.info.in_chans, size, size)
    if spec.num_classes != len(run.info.classes) or shape != expected:
        raise ConfigError(
            f"{name} has {spec.num_classes} classes of {'x'.join(map(str, shape))} images, but the "
            f"{'run' if run.path is not None else 'model'} "
            f"predicts {len(run.info.classes)} classes of {'x'.join(map(str, expected))} images; pick a matching --data"
        )
    return dataset


def trained_data_dir(run_dir: Path) -> str | None:
    """Where the run's dataset was read from (config.json's ``data_dir``), or None: search as usual.

    Only that field is read and checked, so a run opens without the trainer's configuration.
    A run without config.json (imported weights) has none.
    """
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        return None
    values: Any = read_json(path, what="config file", max_bytes=MIB, error=RunDirError, max_depth=10)
    fields = Fields(str(path), RunDirError)
    if not isinstance(values, dict):
        raise fields.kind("the file", values, "a JSON object")
    data_dir = values.get("data_dir")
    return None if data_dir is None else fields.text("data_dir", data_dir, max_len=4096)
