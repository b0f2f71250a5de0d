"""``cnnkit explain landscape``: the loss landscape around a trained run's weights (Li et al., 2018).
The command parses its flags, reads the data and calls ``cnnkit.reports.landscape.write_landscape``
on every torchrun rank (rank 0 writes); no torch at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from cnnkit.cli._common import (
    DATA_DIR_OPT,
    DATA_OPT,
    DEVICE_OPT,
    OUT_OPT,
    QUIET_OPT,
    RUN_ARG,
    SEED_OPT,
)

EXAMPLES = """
\b
Examples:
  cnnkit explain landscape runs/fm-lenet5 --out /tmp/line            1D: 51 points on 1,000 test images
  cnnkit explain landscape runs/fm-lenet5 --dims 2 --subset 2000     2D: 21 x 21 grid
  cnnkit explain landscape RUN --dims 2 --points 11 --span=-0.5,0.5 --split train
  torchrun --standalone --nproc-per-node 2 -m cnnkit explain landscape RUN --dims 2
"""


def register(explain_app: typer.Typer) -> None:
    explain_app.command(
        "landscape",
        help="Loss and accuracy along filter-normalised random directions around the trained weights "
        "(Li et al., 2018): a 1D line or a 2D contour and 3D surface. Under torchrun the grid points "
        "are shared between processes.\n" + EXAMPLES,
    )(landscape_command)


def landscape_command(
    source: str = RUN_ARG,
    dims: int = typer.Option(1, "--dims", help="1: a line along one direction; 2: a surface over two."),
    points: Optional[int] = typer.Option(None, "--points", help="Grid points per axis (default 51 for 1D, 21 for 2D)."),
    span: str = typer.Option("-1,1", "--span", help="LOW,HIGH range of the step along each direction."),
    subset: int = typer.Option(1000, "--subset", help="Images evaluated at each point (seeded choice)."),
    split: str = typer.Option("test", "--split", help="test, or train (the paper plots the training loss)."),
    batch_size: int = typer.Option(500, "--batch-size", help="Images per forward pass."),
    data: Optional[str] = DATA_OPT,
    data_dir: Optional[Path] = DATA_DIR_OPT,
    seed: int = SEED_OPT,
    out: Optional[Path] = OUT_OPT,
    device: str = DEVICE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    from cnnkit.progress import ProgressBar
    from cnnkit.reports.landscape import write_landscape
    from cnnkit.reports.pages import OutputFolder
    from cnnkit.explain.landscape import LandscapeConfig
    from cnnkit.device import resolve_device
    from cnnkit.train.distributed import distributed_session
    from cnnkit.runs.opening import open_model, require_classifier

    config = LandscapeConfig(dims=dims, points=points, span=_parse_span(span), subset=subset,
                             batch_size=batch_size, seed=seed)
    with distributed_session(resolve_device(device)) as session:
        run = require_classifier(open_model(source, device=session.device), source, "explain landscape")
        images = _data(run, config, data, data_dir, split)
        output = OutputFolder(run, source, "landscape", out)  # every rank checks it, so all fail alike
        with ProgressBar("landscape", unit="points", enabled=session.is_main and not quiet) as bar:
            result = write_landscape(output, run, source, images, config, dataset=data or run.info.dataset,
                                     split=split, device=str(session.device), write=session.is_main,
                                     progress=bar.update)
        if not session.is_main:
            return
    centre = result.center()
    at_centre = f"loss {centre[0]:.4g} (accuracy {centre[1]:.2%}) at the weights (the origin), " if centre else ""
    typer.echo(f"landscape {'x'.join([str(config.points)] * config.dims)} on {result.images:,} images in "
               f"{result.seconds:.1f} s ({result.processes} process{'es' if result.processes > 1 else ''}): "
               f"{at_centre}mean {result.edge():.4g} on the edge of the grid")
    typer.echo(f"wrote {output.page}")


def _parse_span(text: str) -> tuple[float, float]:
    from cnnkit.errors import ConfigError

    parts = text.replace(":", ",").split(",")
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--span must be LOW,HIGH (two numbers, e.g. -1,1 or --span=-0.5,0.5), got {text!r}") from None
    return low, high


def _data(run: Any, config: Any, data: Optional[str], data_dir: Optional[Path], split: str) -> Any:
    """The split in memory (the library picks the subset), or the subset read from an image folder."""
    from cnnkit.runs.datasets import dataset_for, sample_images

    dataset = dataset_for(run, data=data, data_dir=data_dir, split=split)
    if hasattr(dataset, "images"):
        return dataset
    # same seeded choice as the library's, so both paths evaluate the same images
    return sample_images(run, config.subset or len(dataset), data=data, data_dir=data_dir, split=split,
                         seed=config.seed)

