"""report.html of a voxel run: the loss and accuracy or IoU curves, held-out shapes seen as depth
views with their true and predicted classes (classify) or one completion (complete), the
configuration and the timing."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from cnnkit.apps.voxels.task import VoxelEvaluation, VoxelSet
from cnnkit.runs.format import REPORT_FILE, ModelInfo
from cnnkit.runs.metrics import read_metrics
from cnnkit.train.config import TrainConfig
from cnnkit.train.report import closing_sections
from cnnkit.viz import ReportSection, format_duration, plot_image_grid, plot_metric_curves, write_report

__all__ = ["build_voxel_report"]


@torch.no_grad()
def _classified(network: nn.Module, test: VoxelSet, classes: list[str], path: Path, count: int = 12) -> Path:
    """Depth views of the first held-out shapes (azimuth 30, elevation 20), captioned true -> predicted."""
    from cnnkit.apps.voxels.views import depth_view

    network.eval()
    device = next(network.parameters()).device
    grids = test.grids[:count]
    predicted = network(grids[:, None].float().to(device)).argmax(1).cpu()
    tiles, captions, colours = [], [], []
    for grid, label, guess in zip(grids, test.labels[:count].tolist(), predicted.tolist()):
        depth = depth_view(grid, 30.0, 20.0)
        finite = torch.isfinite(depth)
        shade = torch.where(finite, 1 - (depth - depth[finite].min()) / max(float(depth[finite].max() - depth[finite].min()), 1e-6) * 0.8, 1.0)
        tiles.append(shade.expand(3, -1, -1).numpy())
        captions.append(f"{classes[label]} -> {classes[guess]}")
        colours.append("#1a7f37" if label == guess else "#cf222e")
    import numpy as np

    return plot_image_grid(np.stack(tiles), captions, path, ncols=6, caption_colors=colours, cell_inches=1.5,
                           title="held-out shapes (depth views): true -> predicted")


def build_voxel_report(run_dir: Path, *, info: ModelInfo, config: TrainConfig, evaluation: VoxelEvaluation,
                       test: VoxelSet, network: nn.Module) -> Path:
    """Write curves.png, the example figure and report.html of a finished voxel run."""
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    job = info.task_options.get("job", "classify")
    m, training = evaluation.metrics, info.training
    if job == "classify":
        curves = plot_metric_curves(metrics, [("loss", [("train_loss", "train")]),
                                              ("accuracy", [("train_acc", "train"), ("test_acc", "test")])],
                                    run_dir / "curves.png")
        example = _classified(network, test, list(info.classes), run_dir / "examples.png")
        highlights = [("test accuracy", f"{m['test_acc']:.2%}")]
        shown = ReportSection("Held-out shapes", images=(example,),
                              text="Solids of seeds training never drew, seen from one viewpoint; green: right.")
    else:
        from cnnkit.apps.voxels.files import VoxelModel, complete, plot_completion

        curves = plot_metric_curves(metrics, [("loss", [("train_loss", "train")]),
                                              ("voxel IoU", [("train_iou", "train"), ("test_iou", "test: network"),
                                                             ("test_iou_observed", "test: seen voxels only"),
                                                             ("test_iou_columns", "test: column baseline")])],
                                    run_dir / "curves.png")
        depth, seen, probability = complete(VoxelModel(network, job, info.input_size, []), test.grids[0], 30.0, 20.0)
        example = plot_completion(test.grids[0], depth, seen, probability, run_dir / "examples.png")
        highlights = [("test IoU", f"{m['test_iou']:.3f}"), ("seen only", f"{m['test_iou_observed']:.3f}"),
                      ("columns", f"{m['test_iou_columns']:.3f}")]
        shown = ReportSection("A held-out completion", images=(example,),
                              text="One held-out solid, its depth view from azimuth 30 and elevation 20, the voxels "
                              "it shows occupied, and the voxels the network completes (colour: probability).")
    highlights.append(("time", format_duration(training.get("seconds", float("nan")))))
    sections = [ReportSection("Learning curves", images=(curves,), text="Per epoch, on the training and held-out shapes."),
                shown, *closing_sections(run_dir, metrics=metrics, config=config, training=training)]
    title = run_dir.name.removeprefix(".").removesuffix(".partial")
    return write_report(run_dir / REPORT_FILE, title=title,
                        subtitle=f"{info.architecture}: {'classification' if job == 'classify' else 'completion'} of "
                                 f"{info.input_size}^3 voxel grids", highlights=highlights, sections=sections)
