"""Voxel networks on files, for ``cnnkit voxels``: a mesh (.off) or an occupancy grid (.npy) in, the
top classes or a completed grid out, and the figure of a completion (the shape, its depth view, the
voxels seen, the completion coloured by probability)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from cnnkit.apps.voxels.off import read_off
from cnnkit.apps.voxels.views import check_view, seen_from
from cnnkit.apps.voxels.voxelize import read_grid, voxelize
from cnnkit.errors import ConfigError, RunDirError
from cnnkit.runs.format import load_run

__all__ = ["SHIPPED", "VoxelModel", "open_voxel_model", "read_shape", "classify", "complete", "plot_completion"]

SHIPPED = {"classify": Path(__file__).resolve().parents[2] / "weights" / "voxels-classify",
           "complete": Path(__file__).resolve().parents[2] / "weights" / "voxels-complete"}


@dataclass
class VoxelModel:
    """A voxel network, its job ("classify" or "complete"), grid size and class names."""

    network: nn.Module
    job: str
    size: int
    classes: list[str]


def open_voxel_model(source: str | Path | None, job: str, *, device: torch.device | str = "cpu") -> VoxelModel:
    """The network of a run of 'cnnkit voxels train' (None: the shipped model for ``job``)."""
    path = SHIPPED[job] if source is None else Path(source)
    if source is None and not (path / "model.json").is_file():
        raise RunDirError(f"no shipped {job} model in {path}; pass --model RUN (a run of 'cnnkit voxels train')")
    if not path.is_dir():
        raise RunDirError(f"{source} is not a run directory; pass a run of 'cnnkit voxels train'")
    run = load_run(path, device=device)
    if run.info.task != "voxels":
        raise RunDirError(f"{source} is a {run.info.task} run, not a voxel network")
    found = run.info.task_options.get("job", "classify")
    if found != job:
        raise RunDirError(f"{path} is a {found} model; this command needs a {job} model")
    return VoxelModel(run.network.eval(), job, run.info.input_size, list(run.info.classes))


def read_shape(path: str | Path, size: int) -> Tensor:
    """A mesh (.off, voxelised) or an occupancy grid (.npy, of the model's size) as a (size^3) bool grid."""
    path = Path(path)
    if path.suffix.lower() == ".off":
        return voxelize(read_off(path), size=size, source=str(path))
    if path.suffix.lower() == ".npy":
        return read_grid(path, size)
    raise ConfigError(f"{path}: a shape is an OFF mesh (.off) or a numpy occupancy grid (.npy)")


@torch.no_grad()
def classify(model: VoxelModel, grid: Tensor, top: int = 3) -> list[tuple[str, float]]:
    """The ``top`` classes of ``grid`` with their probabilities."""
    device = next(model.network.parameters()).device
    probabilities = torch.softmax(model.network(grid[None, None].float().to(device)).float(), 1)[0].cpu()
    best = probabilities.argsort(descending=True)[:top]
    return [(model.classes[i], float(probabilities[i])) for i in best.tolist()]


@torch.no_grad()
def complete(model: VoxelModel, grid: Tensor, azimuth: float, elevation: float) -> tuple[Tensor, Tensor, Tensor]:
    """What one view of ``grid`` shows and the network completes: the depth map, the seen voxels
    (2, S, S, S) and each voxel's occupancy probability (S, S, S)."""
    check_view(azimuth, elevation)
    depth, seen = seen_from(grid, azimuth, elevation)
    device = next(model.network.parameters()).device
    probability = torch.sigmoid(model.network(seen[None].float().to(device)).float())[0, 0].cpu()
    return depth, seen, probability


def plot_completion(grid: Tensor, depth: Tensor, seen: Tensor, probability: Tensor, path: str | Path) -> Path:
    """Four panels: the full shape, the depth view, the voxels seen occupied, and the completion
    (voxels with probability >= 0.5, coloured by it)."""
    from matplotlib import cm

    from cnnkit.viz._figure import new_figure, save_figure

    fig = new_figure(11, 3.2)
    shown = [("full shape", grid.numpy(), None), ("depth view", None, None),
             ("seen occupied", seen[0].numpy(), None), ("completion (colour: probability)", (probability >= 0.5).numpy(),
                                                          probability.numpy())]
    for k, (title, voxels, colours) in enumerate(shown):
        if voxels is None:
            ax = fig.add_subplot(1, 4, k + 1)
            d = depth.numpy()
            ax.imshow(np.where(np.isfinite(d), d, np.nan), cmap="viridis")
            ax.set_axis_off()
        else:
            ax = fig.add_subplot(1, 4, k + 1, projection="3d")
            faces = cm.viridis(colours) if colours is not None else "#4a90d9"
            ax.voxels(voxels, facecolors=faces, edgecolor="k", linewidth=0.05)
            ax.set_axis_off()
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
