"""report.html of a super-resolution run, and the figure ``cnnkit sr eval`` draws: PSNR curves,
zoomed crops side by side (high resolution, bicubic, network) where the network helps most, the
per-photograph table, the configuration and the timing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.apps.superres.task import SREvaluation
from cnnkit.runs.format import REPORT_FILE, ModelInfo
from cnnkit.runs.metrics import read_metrics
from cnnkit.train.config import TrainConfig
from cnnkit.train.report import closing_sections
from cnnkit.viz import (
    ReportSection,
    Table,
    format_duration,
    plot_filters,
    plot_image_grid,
    plot_metric_curves,
    write_report,
)

__all__ = ["best_crop", "build_sr_report", "plot_crops"]


def best_crop(hr: Tensor, baseline: Tensor, restored: Tensor, *, side: int | None = None) -> tuple[int, int, int]:
    """(top, left, side) of the square where ``restored`` removes the most squared error of ``baseline``.

    Images are (1, H, W); ``side`` defaults to a quarter of the shorter side (24 to 96 pixels)."""
    h, w = hr.shape[-2:]
    side = side or int(min(max(min(h, w) // 4, 24), 96, h, w))
    gain = (baseline.double() - hr.double()).pow(2) - (restored.double() - hr.double()).pow(2)
    window = F.avg_pool2d(gain[None], side, stride=max(1, side // 4))[0, 0]
    flat = int(window.argmax())
    row, col = divmod(flat, window.shape[1])
    return row * max(1, side // 4), col * max(1, side // 4), side


def plot_crops(rows: list[tuple[str, Tensor, Tensor, Tensor]], path: Path, *, scale: int,
               title: str | None = None) -> Path:
    """For each (name, HR, bicubic, network) luminance (1, H, W): the three crops side by side, with PSNR."""
    from cnnkit.apps.superres.metrics import psnr

    tiles, captions = [], []
    for name, hr, bic, out in rows:
        top, left, side = best_crop(hr, bic, out)
        for label, image in (("original", hr), ("bicubic", bic), ("network", out)):
            crop = image[:, top:top + side, left:left + side]
            tiles.append(crop.float().clamp(0, 1))
            note = "" if label == "original" else f"\n{float(psnr(crop, hr[:, top:top + side, left:left + side])):.2f} dB here"
            captions.append(f"{name}: {label}{note}" if label == "original" else f"{label}{note}")
    return plot_image_grid(torch.stack(tiles).numpy(), captions, path, ncols=3, title=title, cell_inches=2.4)


def _per_photo_table(evaluation: SREvaluation) -> Table:
    rows = [(name, f"{b:.2f}", f"{p:.2f}", f"{p - b:+.2f}", f"{sb:.4f}", f"{s:.4f}")
            for name, p, b, s, sb in zip(evaluation.names, evaluation.psnr, evaluation.psnr_bicubic,
                                         evaluation.ssim, evaluation.ssim_bicubic)]
    m = evaluation.metrics
    rows.append(("mean", f"{m['test_psnr_bicubic']:.2f}", f"{m['test_psnr']:.2f}", f"{m['test_gain']:+.2f}",
                 f"{sum(evaluation.ssim_bicubic) / len(evaluation.ssim_bicubic):.4f}", f"{m['test_ssim']:.4f}"))
    return (("photograph", "bicubic PSNR (dB)", "network PSNR (dB)", "gain (dB)", "bicubic SSIM", "network SSIM"),
            *rows)


def build_sr_report(run_dir: Path, *, info: ModelInfo, config: TrainConfig, evaluation: SREvaluation,
                    network: Any = None) -> Path:
    """Write curves.png, crops.png, filters.png and report.html of a finished super-resolution run."""
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    scale = int(info.task_options["scale"])
    curves = plot_metric_curves(metrics, [
        ("loss", [("train_loss", "train")]),
        ("PSNR on Y (dB)", [("train_psnr", "train patches"), ("test_psnr", "test: network"),
                            ("test_psnr_bicubic", "test: bicubic")]),
    ], run_dir / "curves.png")
    figures = [curves]
    crops: tuple[Path, ...] = ()
    if evaluation.example is not None:
        hr, bic, out = evaluation.example
        crops = (plot_crops([(evaluation.names[0], hr, bic, out)], run_dir / "crops.png", scale=scale),)
    filters: tuple[Path, ...] = ()
    if network is not None:
        conv = next((m for m in network.modules() if isinstance(m, torch.nn.Conv2d)), None)
        if conv is not None:
            filters = (plot_filters(conv.weight.detach().float().cpu().numpy(), run_dir / "filters.png",
                                    title=f"{conv.out_channels} filters of the first layer"),)
    training = info.training
    title = run_dir.name.removeprefix(".").removesuffix(".partial")
    m = evaluation.metrics
    sections = [
        ReportSection("PSNR curves", images=tuple(figures),
                      text="Loss per epoch on the training patches; PSNR on Y of the training patches (running mean "
                      "over the epoch) and of the whole test photographs, restored by the network and by bicubic "
                      f"interpolation of the same input ({scale} pixels shaved at each border, as the paper does)."),
        ReportSection("Before and after", images=crops,
                      text="The square of the first test photograph where the network removes the most error of "
                      "bicubic interpolation, at full resolution: the original, bicubic, the network."),
        ReportSection("Per photograph", table=_per_photo_table(evaluation)),
        ReportSection("First-layer filters", images=filters,
                      text="The weights of the first convolution, one tile per output channel."),
        *closing_sections(run_dir, metrics=metrics, config=config, training=training),
    ]
    highlights = [
        ("test PSNR", f"{m['test_psnr']:.2f} dB"),
        ("bicubic", f"{m['test_psnr_bicubic']:.2f} dB"),
        ("gain", f"{m['test_gain']:+.2f} dB"),
        ("SSIM", f"{m['test_ssim']:.4f}"),
        ("time", format_duration(training.get("seconds", float("nan")))),
    ]
    degradation = info.task_options.get("degradation", "bicubic")
    return write_report(
        run_dir / REPORT_FILE, title=title,
        subtitle=f"{info.architecture}, x{scale} super-resolution of {degradation}-degraded photographs "
                 f"({info.dataset}): {len(evaluation.names)} test photographs",
        highlights=highlights, sections=sections,
    )
