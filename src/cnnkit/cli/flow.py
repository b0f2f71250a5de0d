"""``cnnkit flow``: optical flow (Dosovitskiy et al., 2015) between two images with a trained
network, training on generated scenes, and measurement beside TV-L1 and Lucas-Kanade.
``cnnkit flow IMG1 IMG2`` estimates; the first word ``train`` or ``eval`` picks the others."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cnnkit.cli._apps import group_running, resume_instead

ESTIMATE_EXAMPLES = """
\b
Examples:
  cnnkit flow a.png b.png -o flow.flo --png flow.png     the shipped model
  cnnkit flow a.png b.png --model runs/RUN -o flow.flo   a model you trained
"""

TRAIN_EXAMPLES = """
\b
Examples:
  cnnkit flow train                                  the shipped recipe: pwc_lite, 20 x 4,096 scenes
  cnnkit flow train --model flownets --width 0.25    FlowNetSimple at a quarter of its widths
  cnnkit flow train --resume runs/RUN                continue a stopped run exactly
"""

EVAL_EXAMPLES = """
\b
Examples:
  cnnkit flow eval                                   the shipped model on held-out scenes and a real pair
  cnnkit flow eval runs/RUN --count 64               EPE beside TV-L1 and Lucas-Kanade
"""


flow_app = typer.Typer(cls=group_running("estimate"), no_args_is_help=True, rich_markup_mode=None,
                       help="Optical flow: estimate (cnnkit flow IMG1 IMG2), train, evaluate.\n" + ESTIMATE_EXAMPLES)


def register(app: typer.Typer) -> None:
    app.add_typer(flow_app, name="flow")


@flow_app.command("estimate", help="Flow from the first image to the second.\n" + ESTIMATE_EXAMPLES)
def estimate(
    first: Path = typer.Argument(..., help="The first frame."),
    second: Path = typer.Argument(..., help="The second frame (the same size)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="A run of 'cnnkit flow train' (default: the "
                                        "shipped model)."),
    out: Path = typer.Option(Path("flow.flo"), "--out", "-o", help="The Middlebury .flo file to write."),
    png: Optional[Path] = typer.Option(None, "--png", help="Also a picture of the flow (Middlebury colours)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    from cnnkit.apps.flow.colour import flow_to_colour
    from cnnkit.apps.flow.estimate import network_flow, open_flow_model, read_pair
    from cnnkit.apps.flow.flo import write_flo
    from cnnkit.apps.superres.photos import write_photo
    from cnnkit.device import resolve_device
    from cnnkit.errors import OutputError

    if out.suffix.lower() != ".flo":
        raise OutputError(f"{out}: the flow is written as a Middlebury .flo file; name it *.flo (--png for a picture)")
    network = open_flow_model(model, device=resolve_device(device))
    image1, image2 = read_pair(first, second)
    flow = network_flow(network, image1, image2)
    if png is not None:
        write_photo(flow_to_colour(flow), png)
    write_flo(out, flow)
    typer.echo(str(out) + (f"\n{png}" if png is not None else ""))


@flow_app.command("train", help="Train a flow network on generated scenes through cnnkit's trainer.\n" + TRAIN_EXAMPLES)
def train(
    model: Optional[str] = typer.Option(None, "--model", help="flownets, flownetc or pwc_lite (default)."),
    width: Optional[float] = typer.Option(None, "--width", help="Channel multiplier (1: the published widths)."),
    size: Optional[int] = typer.Option(None, "--size", help="Scene side in pixels (default 128)."),
    pairs: Optional[int] = typer.Option(None, "--pairs", help="Pairs per epoch (default 4,096)."),
    items: Optional[str] = typer.Option(None, "--items", help="Object silhouettes besides random shapes: "
                                        "fashion-mnist (default) or none."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs (default 20)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Pairs per step (default 16)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate of AdamW (default 6e-4; "
                                      "0.25 epochs of warm-up, cosine decay, gradients clipped at norm 1)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed; same seed, same weights."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default: all cores)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda."),
    out: Optional[Path] = typer.Option(None, "--out", help="Parent directory of run directories (default runs/)."),
    name: Optional[str] = typer.Option(None, "--name", help="Run directory name."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue this unfinished run (runs/NAME)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    from cnnkit.cli.train import _print_result
    from cnnkit.train import TrainConfig, fit

    given = {"model": model, "width": width, "size": size, "pairs": pairs, "items": items, "epochs": epochs,
             "batch-size": batch_size, "lr": lr, "seed": seed, "threads": threads, "device": device, "out": out,
             "name": name}
    if resume is not None:
        resume_instead(resume, given, quiet=quiet)
        return
    options = {k: v for k, v in (("size", size), ("pairs_per_epoch", pairs), ("items", items)) if v is not None}
    values = {"task": "flow", "data": "scenes", "model": model or "pwc_lite", "optimizer": "adamw", "lr": lr or 6e-4,
              "weight_decay": 0.0, "schedule": "cosine", "warmup_epochs": 0.25, "clip_grad_norm": 1.0,
              "batch_size": batch_size or 16, "epochs": epochs or 20, "channels_last": False, "task_options": options,
              "model_kwargs": {"width": width} if width is not None else {}}
    values.update({k: v for k, v in (("seed", seed), ("threads", threads), ("device", device),
                                     ("out", str(out) if out else None), ("name", name)) if v is not None})
    _print_result(fit(TrainConfig.from_dict(values), progress=not quiet))


@flow_app.command("eval", help="EPE on held-out generated scenes beside zero flow, TV-L1 and Lucas-Kanade.\n"
                  + EVAL_EXAMPLES)
def evaluate(
    model: Optional[str] = typer.Argument(None, help="A run of 'cnnkit flow train' (default: the shipped model)."),
    count: int = typer.Option(16, "--count", help="Held-out scenes to measure on."),
    real: bool = typer.Option(True, "--real/--no-real", help="Also the real stereo pair with ground truth "
                              "(scikit-image's motorcycle, a quarter size)."),
    out: Path = typer.Option(Path("flow-eval"), "--out", "-o", help="Folder for eval.json and example.png."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    import dataclasses
    import json

    from rich.console import Console
    from rich.table import Table

    from cnnkit.apps.flow.estimate import compare_methods, flow_model_path, open_flow_model
    from cnnkit.apps.flow.folders import motorcycle_pair
    from cnnkit.apps.flow.report import plot_methods
    from cnnkit.apps.flow.task import FlowOptions, held_out_pairs
    from cnnkit.atomic import atomic_write_text
    from cnnkit.device import resolve_device
    from cnnkit.errors import ConfigError
    from cnnkit.runs.format import ModelInfo

    if not 1 <= count <= 10_000:
        raise ConfigError(f"--count must be in [1, 10000], got {count}")
    network = open_flow_model(model, device=resolve_device(device))
    info = ModelInfo.from_file(flow_model_path(model) / "model.json")
    options = FlowOptions(size=info.input_size, test_pairs=count, items=info.task_options.get("items", "none"))
    pairs = held_out_pairs(options)
    shown = {f"{count} held-out scenes": (pairs, "example.png")}
    if real:
        shown["the real motorcycle pair"] = ([motorcycle_pair(4)], "real.png")
    results = {title: compare_methods(network, measured_pairs) for title, (measured_pairs, _) in shown.items()}
    out.mkdir(parents=True, exist_ok=True)
    record = {name: dataclasses.asdict(r) | {"examples": None} for name, r in results.items()}
    atomic_write_text(out / "eval.json", json.dumps(record, indent=2) + "\n")
    figures = []
    for title, (measured_pairs, name) in shown.items():   # each method's flow and error on the first pair
        first = measured_pairs[0]
        flows = {m: flow for m, flow in results[title].examples.items() if m != "zero"}
        figures.append(plot_methods(first.image1, first.image2, first.flow, first.valid, flows, out / name,
                                    title=f"{title}: the first pair" if len(measured_pairs) > 1 else title))
    for title, measured in results.items():
        table = Table("method", "EPE (px)", "not occluded", "occluded", "ms per pair", title=title)
        for name, epe in measured.epe.items():
            table.add_row(name, f"{epe['all']:.3f}", f"{epe['visible']:.3f}", f"{epe['occluded']:.3f}",
                          f"{1000 * measured.seconds[name]:.1f}")
        Console().print(table)
    typer.echo(str(out / "eval.json"))
    for figure in figures:
        typer.echo(str(figure))
