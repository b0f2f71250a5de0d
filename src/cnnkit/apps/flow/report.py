"""report.html of an optical-flow run: EPE curves, one held-out pair with its true and predicted flow
in the Middlebury colours (legend included) and the error map, the configuration and the timing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cnnkit.apps.flow.colour import flow_legend, flow_to_colour
from cnnkit.apps.flow.task import FlowEvaluation
from cnnkit.runs.format import REPORT_FILE, ModelInfo
from cnnkit.runs.metrics import read_metrics
from cnnkit.train.config import TrainConfig
from cnnkit.train.report import closing_sections
from cnnkit.viz import ReportSection, format_duration, plot_filters, plot_image_grid, plot_metric_curves, write_report

__all__ = ["build_flow_report", "plot_flow_example", "plot_methods"]


def _legend_tile(size: tuple[int, int]) -> torch.Tensor:
    """The colour wheel's legend as a round disc centred on a white tile of ``size`` (H, W)."""
    h, w = size
    side = min(h, w)
    tile = torch.ones(3, h, w)
    disc = torch.nn.functional.interpolate(flow_legend(64)[None], size=(side, side), mode="nearest")[0]
    top, left = (h - side) // 2, (w - side) // 2
    tile[:, top:top + side, left:left + side] = disc
    return tile


def plot_flow_example(image1: torch.Tensor, image2: torch.Tensor, truth: torch.Tensor, predicted: torch.Tensor,
                      path: Path, *, title: str | None = None) -> Path:
    """The pair, the true and the predicted flow in one colour scale, the error map, and the legend."""
    speed = float(truth.norm(dim=0).max())
    error = (predicted - truth).norm(dim=0)
    shown_error = (error / max(float(error.max()), 1e-6)).expand(3, -1, -1)
    legend = _legend_tile(truth.shape[-2:])
    tiles = torch.stack([image1, image2, flow_to_colour(truth, max_speed=speed),
                         flow_to_colour(predicted, max_speed=speed), shown_error, legend]).clamp(0, 1)
    captions = ["first frame", "second frame", "true flow", "predicted flow",
                f"error (white: {float(error.max()):.1f} px)", f"legend (edge: {speed:.1f} px)"]
    return plot_image_grid(tiles.numpy(), captions, path, ncols=6, title=title, cell_inches=1.8)


def plot_methods(image1: torch.Tensor, image2: torch.Tensor, truth: torch.Tensor, valid: torch.Tensor,
                 flows: dict[str, torch.Tensor], path: Path, *, title: str | None = None) -> Path:
    """One pair, every method side by side: the frames, the true flow and the legend; each method's flow
    (one colour scale: the true flow's largest speed); each method's end-point error map (one grey
    scale for all, invalid pixels black) captioned with its mean EPE."""
    speed = max(float(truth.norm(dim=0)[valid].max()) if valid.any() else 1.0, 1e-6)
    errors = {name: (flow - truth).norm(dim=0) * valid for name, flow in flows.items()}
    worst = max(max(float(e.max()) for e in errors.values()), 1e-6)
    columns = max(4, len(flows))
    blank = torch.ones(3, *truth.shape[-2:])
    legend = _legend_tile(truth.shape[-2:])
    tiles = [image1, image2, flow_to_colour(truth * valid, max_speed=speed), legend]
    captions = ["first frame", "second frame", "true flow", f"legend (edge: {speed:.1f} px)"]
    tiles += [blank] * (columns - 4)
    captions += [""] * (columns - 4)
    for name, flow in flows.items():
        tiles.append(flow_to_colour(flow, max_speed=speed))
        captions.append(name)
    tiles += [blank] * (columns - len(flows))
    captions += [""] * (columns - len(flows))
    for name, error in errors.items():
        tiles.append((error / worst).expand(3, -1, -1))
        captions.append(f"{name}: EPE {float(error[valid].mean()):.2f} px")
    tiles += [blank] * (columns - len(flows))
    captions += [""] * (columns - len(flows))
    if title is None:
        title = f"error maps: white = {worst:.1f} px"
    return plot_image_grid(torch.stack(tiles).clamp(0, 1).numpy(), captions, path, ncols=columns, title=title,
                           cell_inches=1.8)


def build_flow_report(run_dir: Path, *, info: ModelInfo, config: TrainConfig, evaluation: FlowEvaluation,
                      network: Any = None) -> Path:
    """Write curves.png, example.png, filters.png and report.html of a finished optical-flow run."""
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    curves = plot_metric_curves(metrics, [
        ("loss", [("train_loss", "train")]),
        ("end-point error (px)", [("train_epe", "train pairs"), ("test_epe", "test: all valid"),
                                  ("test_epe_visible", "test: not occluded"), ("test_epe_occluded", "test: occluded")]),
    ], run_dir / "curves.png")
    example: tuple[Path, ...] = ()
    if evaluation.example is not None:
        example = (plot_flow_example(*evaluation.example, run_dir / "example.png"),)
    filters: tuple[Path, ...] = ()
    conv = next((m for m in network.modules() if isinstance(m, torch.nn.Conv2d)), None) if network is not None else None
    if conv is not None:
        weight = conv.weight.detach().float().cpu()[:, :3].numpy()  # the first image's channels
        filters = (plot_filters(weight, run_dir / "filters.png", title=f"{conv.out_channels} first-layer filters"),)
    m, training = evaluation.metrics, info.training
    sections = [
        ReportSection("End-point error", images=(curves,),
                      text="Loss (the multi-scale EPE) on the training pairs; EPE of the full-resolution flow on the "
                      "training pairs and on the held-out test pairs (all valid pixels, and occluded and "
                      "not-occluded ones apart)."),
        ReportSection("A held-out pair", images=example,
                      text="Both flows drawn in the Middlebury colour wheel with the true flow's largest speed as "
                      "full saturation; the error map is the end-point error per pixel."),
        ReportSection("First-layer filters", images=filters, text="Weights of the first convolution (first image)."),
        *closing_sections(run_dir, metrics=metrics, config=config, training=training),
    ]
    highlights = [("test EPE", f"{m['test_epe']:.3f} px"), ("not occluded", f"{m['test_epe_visible']:.3f} px"),
                  ("occluded", f"{m['test_epe_occluded']:.3f} px"),
                  ("time", format_duration(training.get("seconds", float("nan"))))]
    title = run_dir.name.removeprefix(".").removesuffix(".partial")
    return write_report(run_dir / REPORT_FILE, title=title,
                        subtitle=f"{info.architecture}: optical flow on generated {info.input_size}x{info.input_size} "
                                 "scenes", highlights=highlights, sections=sections)
