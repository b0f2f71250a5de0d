"""Using a network after training: open a run directory or a registered name, feed it images.

``explain`` and ``attacks`` start here. ``open_model`` accepts what their CLI commands accept
as RUN: a run directory (trained weights) or a registered model name (fresh, seeded weights,
for looking at an untrained network).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from cnnkit.errors import ConfigError, RunDirError
from cnnkit.schema import MAX_SEED, shown
from cnnkit.runs.format import ModelInfo, Run, load_run, sized_model
from cnnkit.runs.prediction import preprocess

__all__ = ["check_images", "check_seed", "load_images", "open_model", "require_classifier"]

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
    check_seed(seed)
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


def require_classifier(run: Run, source: str | Path, command: str) -> Run:
    """``run`` itself, if it classifies; else one line naming the command that takes it."""
    if run.info.task != "classification":
        hint = " (use 'cnnkit sr' and 'cnnkit sr eval')" if run.info.task == "superres" else ""
        raise ConfigError(f"{source} is a {run.info.task} model, and '{command}' needs a classifier's class scores"
                          f"{hint}; 'explain filters', 'maps', 'maximize' and 'invert' take any network")
    return run


def check_seed(seed: int) -> None:
    """A seed is an integer in [0, MAX_SEED] (what torch.Generator.manual_seed takes)."""
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
            "load image files with cnnkit.runs.load_images, which converts and resizes them"
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
