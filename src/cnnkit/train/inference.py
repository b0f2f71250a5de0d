"""Using a network after training: open a run directory or a registered name, feed it images.

``explain`` and ``attacks`` start here. ``open_model`` accepts what their CLI commands accept
as RUN: a run directory (trained weights) or a registered model name (fresh, seeded weights,
for looking at an untrained network). ``frozen`` is the promise both packages make to the
caller: the model's mode and ``requires_grad`` flags are the same after a call as before.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from cnnkit.data import is_folder_dataset, load_dataset
from cnnkit.errors import ConfigError, RunDirError
from cnnkit.modes import frozen  # re-exported: explain and attacks import it from cnnkit.modes
from cnnkit.schema import MAX_SEED, shown
from cnnkit.train.config import TrainConfig
from cnnkit.train.predict import preprocess
from cnnkit.train.rundir import CONFIG_FILE, ModelInfo, Run, load_run, sized_model

__all__ = ["check_images", "frozen", "load_images", "open_model", "sample_images"]

# Fresh networks get these statistics (ImageNet's for colour, mid-grey for one channel), so a
# registered name behaves like a run trained on typical data.
_IMAGENET_MEAN, _IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def open_model(
    source: str | Path,
    *,
    device: torch.device | str = "cpu",
    num_classes: int | None = None,
    in_chans: int | None = None,
    input_size: int | None = None,
    seed: int = 0,
) -> Run:
    """A run directory's trained model, or a registered model with fresh weights from ``seed``.

    The returned ``Run.model`` is ``Sequential(Normalize, network)`` in eval mode and takes
    pixels in [0, 1]. ``Run.path`` is None for a registered name.
    """
    from cnnkit.models import create_model, get_model_entry, list_models

    path = Path(source)
    if path.is_dir():
        return load_run(path, device=device)
    if str(source) not in list_models():
        close = difflib.get_close_matches(str(source), list_models(), n=3)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise RunDirError(
            f"'{source}' is neither a run directory nor a registered model name{hint} "
            "('cnnkit models' lists the names; 'cnnkit train' makes run directories)"
        )
    entry = get_model_entry(str(source))
    chans = in_chans if in_chans is not None else entry.in_chans
    size = input_size if input_size is not None else entry.input_size
    kwargs: dict = {"in_chans": chans, "input_size": size}
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    _check_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = create_model(entry.name, **kwargs)
    classes_count = _output_classes(entry.name, kwargs)
    mean, std = (_IMAGENET_MEAN, _IMAGENET_STD) if chans == 3 else ([0.5] * chans, [0.5] * chans)
    info = ModelInfo(
        architecture=entry.name, kwargs=kwargs, classes=[str(i) for i in range(classes_count)],
        in_chans=chans, input_size=size, mean=mean, std=std, dataset=None,
    )
    return Run(path=None, model=sized_model(network, info, device), info=info)


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed (--seed) must be an integer in [0, {MAX_SEED:,}], got {shown(seed)}")


def _output_classes(name: str, kwargs: dict) -> int:
    """Number of logits the model produces: a twin built and run on the meta device (no memory, no time)."""
    from cnnkit.models import create_model

    with torch.device("meta"):
        probe = create_model(name, **kwargs).eval()
        with torch.no_grad():
            out = probe(torch.zeros(1, kwargs["in_chans"], kwargs["input_size"], kwargs["input_size"]))
    return int(out.shape[1])


def check_images(x: Tensor, info: ModelInfo, *, name: str = "x") -> Tensor:
    """Refuse a batch that is not (N, C, S, S) floats in [0, 1] of the model's channels and size."""
    expected = (info.in_chans, info.input_size, info.input_size)
    if not isinstance(x, Tensor) or not x.is_floating_point():
        kind = x.dtype if isinstance(x, Tensor) else type(x).__name__
        raise ConfigError(f"{name} must be a float tensor of pixels in [0, 1], got {kind}; divide uint8 images by 255")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or tuple(x.shape[1:]) != expected:
        raise ConfigError(
            f"{name} has shape {tuple(x.shape)}, but the model takes (N, {', '.join(map(str, expected))}); "
            "load image files with cnnkit.train.inference.load_images, which converts and resizes them"
        )
    if x.numel() and (not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1):
        raise ConfigError(
            f"{name} holds values outside [0, 1] (min {float(x.min()):.3g}, max {float(x.max()):.3g}); "
            "give pixels in [0, 1]: the model normalises by itself"
        )
    return x


def load_images(paths: Sequence[str | Path], info: ModelInfo) -> Tensor:
    """Image files as the model expects them, (N, C, S, S) in [0, 1]: converted and resized."""
    if not paths:
        raise ConfigError("no image given; pass one or more PNG/JPEG files")
    return torch.stack([preprocess(p, info) for p in paths])


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
    _check_seed(seed)
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
    if data_dir is None and name == run.info.dataset and run.path is not None and (run.path / CONFIG_FILE).is_file():
        data_dir = TrainConfig.from_file(run.path / CONFIG_FILE).data_dir
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
