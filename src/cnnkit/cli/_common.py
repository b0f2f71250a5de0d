"""What the ``cnnkit explain`` and ``cnnkit attack`` commands share: their options, the model
source and the images. The output folder and page are ``cnnkit.reports.pages``'s, the progress
bar ``cnnkit.progress``'s. No torch at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

RUN_ARG = typer.Argument(..., help="A run directory (runs/NAME) or a registered model name (fresh weights).")
IMAGES_OPT = typer.Option(None, "--image", help="Image file(s) to explain; converted and resized to the model's input.")
COUNT_OPT = typer.Option(8, "--count", help="Without --image: this many test images of the run's dataset.")
DATA_OPT = typer.Option(None, "--data", help="Dataset to draw images from (default: the run's own).")
DATA_DIR_OPT = typer.Option(None, "--data-dir", help="Directory holding the dataset's files.")
SEED_OPT = typer.Option(0, "--seed", help="Random seed (image choice, noise, directions).")
OUT_OPT = typer.Option(None, "--out", help="Output folder (default: RUN/explain/COMMAND, or explain/MODEL/COMMAND).")
DEVICE_OPT = typer.Option("auto", "--device", help="auto, cpu or cuda.")
QUIET_OPT = typer.Option(False, "--quiet", "-q", help="No progress bar.")


def open_source(source: str, device: str, *, classifier: str | None = None) -> Any:
    """The Run behind RUN (a run directory or a registered name) on the chosen device; with
    ``classifier`` (the command's name) a model of another task is refused in one line."""
    from cnnkit.device import resolve_device
    from cnnkit.runs.opening import open_model, require_classifier

    run = open_model(source, device=resolve_device(device))
    return require_classifier(run, source, classifier) if classifier else run


def pick_images(run: Any, images: Optional[list[Path]], count: int, data: Optional[str],
                data_dir: Optional[Path], seed: int) -> tuple[Any, Any, list[str]]:
    """(x, y or None, captions): the given image files, else ``count`` images of the dataset."""
    from cnnkit.modes import device_of
    from cnnkit.runs.datasets import sample_images
    from cnnkit.runs.opening import load_images

    device = device_of(run.model)
    if images:
        x = load_images(images, run.info)
        return x.to(device), None, [Path(p).name for p in images]
    if run.info.dataset is None and data is None:
        from cnnkit.errors import ConfigError

        raise ConfigError("this model records no dataset; pass --image FILE (or --data NAME)")
    x, y = sample_images(run, count, data=data, data_dir=data_dir, seed=seed)
    return x.to(device), y.to(device), [run.info.classes[i] for i in y.tolist()]
