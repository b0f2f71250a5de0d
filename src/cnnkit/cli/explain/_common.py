"""What every ``cnnkit explain`` command shares: the model source, the images, the output folder
and the HTML page that gathers one invocation's figures. No torch at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from cnnkit.reports.pages import OutputFolder, write_page  # noqa: F401  (the explain commands take them from here)

RUN_ARG = typer.Argument(..., help="A run directory (runs/NAME) or a registered model name (fresh weights).")
IMAGES_OPT = typer.Option(None, "--image", help="Image file(s) to explain; converted and resized to the model's input.")
COUNT_OPT = typer.Option(8, "--count", help="Without --image: this many test images of the run's dataset.")
DATA_OPT = typer.Option(None, "--data", help="Dataset to draw images from (default: the run's own).")
DATA_DIR_OPT = typer.Option(None, "--data-dir", help="Directory holding the dataset's files.")
SEED_OPT = typer.Option(0, "--seed", help="Random seed (image choice, noise, directions).")
OUT_OPT = typer.Option(None, "--out", help="Output folder (default: RUN/explain/COMMAND, or explain/MODEL/COMMAND).")
DEVICE_OPT = typer.Option("auto", "--device", help="auto, cpu or cuda.")
QUIET_OPT = typer.Option(False, "--quiet", "-q", help="No progress bar.")


def open_source(source: str, device: str) -> Any:
    """The Run behind RUN (a run directory or a registered name) on the chosen device."""
    from cnnkit.device import resolve_device
    from cnnkit.runs.opening import open_model

    return open_model(source, device=resolve_device(device))


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


class StepBar:
    """A rich progress bar on stderr (steps, grid points, ...) with the time taken; a no-op when disabled."""

    def __init__(self, label: str, *, unit: str = "steps", enabled: bool = True) -> None:
        self._progress = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(TextColumn(f"[bold]{label}"), BarColumn(bar_width=24), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn(unit), console=Console(stderr=True))
        self._task = None
        self._label = label

    def __enter__(self) -> StepBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._task is not None:  # shown only once work began, so an early error stays one line
            self._progress.__exit__(*exc)  # type: ignore[union-attr]

    def update(self, done: int, total: int) -> None:
        if self._progress is None:
            return
        if self._task is None:
            self._progress.__enter__()
            self._task = self._progress.add_task(self._label, total=total)
        self._progress.update(self._task, completed=done, total=total)  # a total may shrink (an early stop)

    def steps(self, total: int):  # type: ignore[no-untyped-def]
        """A ``progress(step, score)`` callback for the ascent loop, ``total`` steps in all."""
        return lambda step, _score: self.update(step, total)
