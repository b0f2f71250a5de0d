"""The page of ``cnnkit explain landscape``: the loss and accuracy of a trained network around its
weights along filter-normalised random directions (Li et al., 2018, arXiv:1712.09913), a 1D line
or a 2D contour and 3D surface, with the grid's numbers as JSON."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from cnnkit.explain.landscape import LandscapeConfig, LandscapeResult, loss_landscape
from cnnkit.progress import Progress
from cnnkit.reports.pages import OutputFolder, write_page
from cnnkit.runs.format import Run

__all__ = ["write_landscape"]


def write_landscape(output: OutputFolder, run: Run, source: str, images: Any, config: LandscapeConfig, *,
                    dataset: str | None = None, split: str = "test", device: str = "cpu", write: bool = True,
                    progress: Progress | None = None) -> LandscapeResult:
    """The loss landscape around ``run``'s weights (Li et al., 2018) on ``images`` (a dataset, or an
    (x, y) pair), written to ``output``: landscape-Dd.png (and -3d.png), landscape-Dd.json, index.html.

    Under torchrun every rank computes its share of the grid; the others pass ``write=False`` and
    get the grid without writing. ``dataset``, ``split`` and ``device`` are recorded in the JSON.
    """
    result = loss_landscape(run.model, images, config, progress=progress)
    if not write:
        return result
    result = dataclasses.replace(result, model=run.info.architecture, extra={
        "source": str(source), "dataset": dataset, "split": split, "device": device})
    with output as folder:
        paths = _figures(folder, result)
        write_page(folder, run, source, "landscape", _sections(result, paths), highlights=_highlights(result))
    return result


def _figures(folder: Path, result: LandscapeResult) -> list[Path]:
    from cnnkit.viz.landscape import (
        plot_loss_contour,
        plot_loss_line,
        plot_loss_surface_3d,
    )

    title = f"{result.model}: {result.images:,} {result.extra.get('split', 'test')} images"
    if result.dims == 1:
        paths = [plot_loss_line(result.alphas, result.loss, result.accuracy, folder / "landscape-1d.png",
                                title=f"{title}, one filter-normalised direction")]
    else:
        paths = [plot_loss_contour(result.alphas, result.betas, result.loss, folder / "landscape-2d.png",
                                   accuracy=result.accuracy, title=title),
                 plot_loss_surface_3d(result.alphas, result.betas, result.loss, folder / "landscape-3d.png",
                                      title=title)]
    result.save(folder / f"landscape-{result.dims}d.json")
    return paths


def _highlights(result: LandscapeResult) -> tuple[tuple[str, str], ...]:
    centre = result.center()
    items = [("grid", "x".join([str(result.config.points)] * result.dims)), ("images", f"{result.images:,}")]
    if centre is not None:
        items += [("loss at the weights", f"{centre[0]:.4g}"), ("accuracy there", f"{centre[1]:.2%}")]
    items.append(("time", f"{result.seconds:.1f} s on {result.processes} process(es)"))
    return tuple(items)


def _sections(result: LandscapeResult, paths: list[Path]) -> list[Any]:
    from cnnkit.viz.report import ReportSection
    from cnnkit.viz.tables import key_value_table

    config = result.config
    text = ("Loss and accuracy of the network at theta + alpha d1" + (" + beta d2" if result.dims == 2 else "")
            + ", where each direction is Gaussian noise rescaled filter by filter to the norm of the trained "
            "filter (Li et al., 2018, arXiv:1712.09913). Biases and BatchNorm parameters stay fixed; BatchNorm "
            "uses the trained running statistics. A sharp minimum shows as tightly packed contours around the "
            "star, a flat one as a wide basin. The numbers are in landscape-" + f"{result.dims}d.json.")
    table = key_value_table({
        "model": result.model, "images": result.images, "points per axis": config.points,
        "span": f"{config.span[0]:g} to {config.span[1]:g}", "seed": config.seed, "batch size": config.batch_size,
        "processes": result.processes, "seconds": round(result.seconds, 2),
        "min loss": float(result.loss.min()), "max loss": float(result.loss.max()),
    })
    return [ReportSection(title="Loss landscape", images=tuple(paths), text=text, table=table)]
