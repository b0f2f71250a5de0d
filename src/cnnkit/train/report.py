"""report.html of a run: curves, learning rate, confusion matrix, first-layer filters, the
misclassified test images, the configuration and the timing, on one offline page.

``build_report`` is called at the end of training with the objects already in memory;
``rebuild_report`` (``cnnkit report RUN``) reloads everything from the run directory.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from cnnkit.data import load_dataset
from cnnkit.errors import RunDirError
from cnnkit.train.config import TrainConfig
from cnnkit.device import cpu_name, resolve_device
from cnnkit.runs.evaluation import Evaluation, evaluate
from cnnkit.runs.lock import run_lock
from cnnkit.runs.format import CONFIG_FILE, REPORT_FILE, ModelInfo, load_run
from cnnkit.runs.metrics import read_metrics
from cnnkit.train.schedule import lr_factor
from cnnkit.viz import (
    ReportSection,
    confusion_table,
    epoch_table,
    format_duration,
    key_value_table,
    plot_confusion_matrix,
    plot_filters,
    plot_image_grid,
    plot_lr_schedule,
    plot_training_curves,
    write_report,
)

__all__ = ["build_report", "closing_sections", "rebuild_report", "MISTAKES_SHOWN"]

MISTAKES_SHOWN = 32


def _first_conv(model: nn.Module) -> nn.Conv2d | None:
    return next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)


def build_report(
    run_dir: Path,
    *,
    model: nn.Module,
    info: ModelInfo,
    config: TrainConfig,
    test_set,
    evaluation: Evaluation | None = None,
    device: torch.device | str = "cpu",
) -> Path:
    """Write the figures and report.html; evaluates ``model`` (pixels in [0, 1]) on ``test_set``
    unless the final ``evaluation`` of training (with its misclassified images) is given."""
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    result = evaluation or evaluate(model, test_set, device=device, tta=config.tta, keep_wrong=MISTAKES_SHOWN)
    classes = list(info.classes)

    curves = plot_training_curves(metrics, run_dir / "curves.png")
    steps_per_epoch = int(info.training.get("steps_per_epoch", 1))
    steps = list(range(config.epochs * steps_per_epoch))
    lrs = [config.lr * lr_factor(s, steps_per_epoch=steps_per_epoch, config=config) for s in steps]
    lr_png = plot_lr_schedule(steps, lrs, run_dir / "lr.png", steps_per_epoch=steps_per_epoch)
    confusion = plot_confusion_matrix(result.confusion.numpy(), classes, run_dir / "confusion.png")
    figures_filters: tuple[Path, ...] = ()
    conv = _first_conv(model)
    if conv is not None:
        weight = conv.weight.detach().float().cpu().numpy()  # (O, I, kh, kw)
        figures_filters = (plot_filters(weight, run_dir / "filters.png", title=f"{conv.out_channels} filters of the first layer"),)
    captions = [
        f"true: {classes[t]}\npred: {classes[p]} ({prob:.2f})"
        for t, p, prob in zip(result.wrong_true.tolist(), result.wrong_pred.tolist(), result.wrong_prob.tolist())
    ]
    mistakes: tuple[Path, ...] = ()
    if captions:
        mistakes = (plot_image_grid(result.wrong_images.numpy(), captions, run_dir / "mistakes.png", ncols=8),)

    training = info.training
    last = metrics[-1] if metrics else {}
    parameters = sum(p.numel() for p in model.parameters())
    title = run_dir.name.removeprefix(".").removesuffix(".partial")
    sections = [
        ReportSection("Training curves", images=(curves,),
                      text="Loss and accuracy per epoch on the training set (running mean over the epoch"
                      + (", on augmented images" if config.augment else "")
                      + ") and on the test set" + (" (with flip test-time augmentation)" if config.tta else "")
                      + "; the learning rate at each epoch's end."
                      + (f" The training loss includes label smoothing {config.label_smoothing:g}, so it sits "
                         "above the test loss, which does not." if config.label_smoothing else "")),
        ReportSection("Learning-rate schedule", images=(lr_png,),
                      text=f"{config.schedule} schedule, peak {config.lr:g}, per optimisation step."),
        ReportSection("Confusion matrix", images=(confusion,),
                      text="Rows: true class; columns: predicted class; colour: share of the row.",
                      table=confusion_table(result.confusion.numpy(), classes)),
        ReportSection("First-layer filters", images=figures_filters,
                      text="The weights of the first convolution, one tile per output channel." if figures_filters
                      else "This model has no convolution."),
        ReportSection("Misclassified test images", images=mistakes,
                      text=f"The first {len(captions)} test images the model gets wrong, with the "
                      "predicted class and its probability." if captions else "No test image is misclassified."),
        *closing_sections(run_dir, metrics=metrics, config=config, training=training),
    ]
    highlights = [
        ("test accuracy", f"{result.accuracy:.2%}"),
        ("test loss", f"{result.loss:.4f}"),
        ("epochs", str(len(metrics))),
        ("time", format_duration(training.get("seconds", float("nan")))),
        ("parameters", f"{parameters:,}"),
    ]
    if last.get("images_per_s"):
        highlights.append(("images/s", f"{last['images_per_s']:,.0f}"))
    return write_report(
        run_dir / REPORT_FILE,
        title=title,
        subtitle=f"{info.architecture} on {info.dataset}: {len(test_set):,} test images, {len(classes)} classes",
        highlights=highlights,
        sections=sections,
    )


def closing_sections(run_dir: Path, *, metrics: list, config: TrainConfig, training: dict) -> list[ReportSection]:
    """The last sections of every task's report: per-epoch metrics, the configuration (and how to
    re-run it), the timing."""
    title = run_dir.name.removeprefix(".").removesuffix(".partial")
    speeds = [m["images_per_s"] for m in metrics if m.get("images_per_s")]
    timing = {
        "total": format_duration(training.get("seconds", float("nan"))),
        "data loading": format_duration(training.get("data_seconds", float("nan"))),
        "training (sum of epochs)": format_duration(sum(m.get("seconds", 0.0) for m in metrics)),
        "evaluation (sum)": format_duration(sum(m.get("eval_seconds", 0.0) for m in metrics)),
        "median items/s": f"{sorted(speeds)[len(speeds) // 2]:,.0f}" if speeds else "–",
        "device": training.get("device", "–"),
        "mixed precision": training.get("amp", "–"),
        "threads": training.get("threads", "–"),
        "CPU": cpu_name(),
        "torch": torch.__version__,
    }
    return [
        ReportSection("Per-epoch metrics", table=epoch_table(metrics)),
        ReportSection("Configuration", table=key_value_table(config.to_dict()),
                      text="Re-run exactly with: cnnkit train --config "
                      + str(run_dir.parent.resolve() / title / CONFIG_FILE)),
        ReportSection("Timing", table=key_value_table(timing, header=("what", "value"))),
    ]


def rebuild_report(run_dir: str | Path, *, device: str = "auto") -> Path:
    """Rebuild report.html of a finished run from its directory alone."""
    run_dir = Path(run_dir)
    torch_device = resolve_device(device)
    run = load_run(run_dir, device=torch_device)
    if not (run_dir / CONFIG_FILE).is_file():
        raise RunDirError(f"{run_dir} has no {CONFIG_FILE}; is it a run directory made by 'cnnkit train'?")
    config = TrainConfig.from_file(run_dir / CONFIG_FILE)
    if config.task != "classification":  # another task's report: its Task rebuilds it
        from cnnkit.train.task import task_from_config

        with run_lock(run_dir, "cnnkit report"):
            return task_from_config(config).rebuild_report(run_dir, run=run, config=config, device=torch_device)
    test_set = load_dataset(
        config.data, "test", data_dir=config.data_dir, image_size=run.info.input_size,
        train_per_class=config.train_per_class, num_workers=config.num_workers, seed=config.seed,
    )
    with run_lock(run_dir, "cnnkit report"):
        return build_report(run_dir, model=run.model, info=run.info, config=config, test_set=test_set,
                            device=torch_device)
