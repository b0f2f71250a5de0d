"""``cnnkit voxels``: voxel networks (3D ShapeNets, Wu et al., 2015; VoxNet, Maturana & Scherer,
2015): classify meshes or grids, complete a shape from one depth view, train on generated solids,
evaluate."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cnnkit.cli._apps import resume_instead

EXAMPLES = """
\b
Examples:
  cnnkit voxels classify chair.off table.npy --model runs/RUN
  cnnkit voxels complete mug.off --view 30,20 -o mug.npy --png mug.png --model runs/RUN
  cnnkit voxels train --model voxnet                  classify the ten solids
  cnnkit voxels train --job complete                  3D ShapeNets completes from one view
  cnnkit voxels train --data ModelNet10 --model voxnet    a ModelNet folder (<class>/train|test/*.off)
  cnnkit voxels eval runs/RUN
"""

voxels_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                         help="Voxel networks: classify, complete from one view, train, evaluate.\n" + EXAMPLES)


def register(app: typer.Typer) -> None:
    app.add_typer(voxels_app, name="voxels")


def _view(text: str) -> tuple[float, float]:
    from cnnkit.apps.voxels.views import check_view
    from cnnkit.errors import ConfigError

    try:
        azimuth, elevation = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--view takes AZIMUTH,ELEVATION in degrees (e.g. 30,20), got {text!r}") from None
    check_view(azimuth, elevation)
    return azimuth, elevation


@voxels_app.command("classify", help="The top classes of meshes (.off) or occupancy grids (.npy).\n" + EXAMPLES)
def classify(
    files: list[Path] = typer.Argument(..., help="OFF meshes or .npy grids."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="A run of 'cnnkit voxels train --job classify' "
                                        "(default: the shipped classifier)."),
    top: int = typer.Option(3, "--top", help="How many classes to list."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of lines."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    import json

    from cnnkit.apps.voxels.files import classify as classify_grid
    from cnnkit.apps.voxels.files import open_voxel_model, read_shape
    from cnnkit.device import resolve_device
    from cnnkit.errors import ConfigError

    if not 1 <= top <= 1000:
        raise ConfigError(f"--top must be in [1, 1000], got {top}")
    network = open_voxel_model(model, "classify", device=resolve_device(device))
    results = [(path, classify_grid(network, read_shape(path, network.size), top)) for path in files]
    if as_json:
        typer.echo(json.dumps([{"file": str(p), "classes": [{"class": c, "probability": round(q, 4)} for c, q in r]}
                               for p, r in results], indent=2))
        return
    for path, ranked in results:
        typer.echo(f"{path}: " + ", ".join(f"{c} {q:.3f}" for c, q in ranked))


@voxels_app.command("complete", help="Complete a shape from one depth view of it.\n" + EXAMPLES)
def complete(
    file: Path = typer.Argument(..., help="An OFF mesh or a .npy grid: the shape whose one view is seen."),
    view: str = typer.Option("30,20", "--view", help="AZIMUTH,ELEVATION of the camera, degrees ([0, 360), [-90, 90])."),
    out: Path = typer.Option(Path("completion.npy"), "--out", "-o", help="The occupancy probabilities (.npy)."),
    png: Optional[Path] = typer.Option(None, "--png", help="Also the figure: shape, depth view, seen, completion."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="A run of 'cnnkit voxels train --job complete' "
                                        "(default: the shipped completion model)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    import io

    import numpy as np

    from cnnkit.apps.voxels.files import complete as complete_grid
    from cnnkit.apps.voxels.files import open_voxel_model, plot_completion, read_shape
    from cnnkit.atomic import atomic_write_bytes
    from cnnkit.device import resolve_device
    from cnnkit.errors import OutputError

    if out.suffix.lower() != ".npy":
        raise OutputError(f"{out}: the completion is written as a numpy .npy file")
    azimuth, elevation = _view(view)
    network = open_voxel_model(model, "complete", device=resolve_device(device))
    grid = read_shape(file, network.size)
    depth, seen, probability = complete_grid(network, grid, azimuth, elevation)
    if png is not None:
        plot_completion(grid, depth, seen, probability, png)
    buffer = io.BytesIO()
    np.save(buffer, probability.numpy().astype(np.float32))
    atomic_write_bytes(out, buffer.getvalue())
    typer.echo(str(out) + (f"\n{png}" if png is not None else ""))


@voxels_app.command("train", help="Train a voxel network on generated solids through cnnkit's trainer.\n" + EXAMPLES)
def train(
    job: Optional[str] = typer.Option(None, "--job", help="classify (default) or complete."),
    model: Optional[str] = typer.Option(None, "--model", help="shapenets3d (default for classify), voxnet, or "
                                        "shapenets3d_completion (the one for complete)."),
    width: Optional[float] = typer.Option(None, "--width", help="3D ShapeNets' channel multiplier (1: published)."),
    shapes: Optional[int] = typer.Option(None, "--shapes", help="Training solids (default 4,000; voxelised once, "
                                         "cached)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Train on a ModelNet folder (<class>/train|test/*.off) "
                                        "instead of the solids."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs (default 15)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Shapes per step (default 32)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate of AdamW (default 1e-3, cosine)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed; same seed, same weights."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default: all cores)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda."),
    out: Optional[Path] = typer.Option(None, "--out", help="Parent directory of run directories (default runs/)."),
    name: Optional[str] = typer.Option(None, "--name", help="Run directory name."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue this unfinished run (runs/NAME)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    from cnnkit.cli.train import _print_result
    from cnnkit.errors import ConfigError
    from cnnkit.train import TrainConfig, fit

    given = {"job": job, "model": model, "width": width, "shapes": shapes, "data": data, "epochs": epochs,
             "batch-size": batch_size,
             "lr": lr, "seed": seed, "threads": threads, "device": device, "out": out, "name": name}
    if resume is not None:
        resume_instead(resume, given, quiet=quiet)
        return
    job = job or "classify"
    chosen = model or ("shapenets3d" if job == "classify" else "shapenets3d_completion")
    if data is not None and shapes is not None:
        raise ConfigError("--shapes counts generated solids; a ModelNet folder (--data) brings its own")
    options = {"job": job, **({"train_shapes": shapes} if shapes is not None else {})}
    values = {"task": "voxels", "data": "modelnet" if data is not None else "solids",
              "data_dir": str(data.resolve()) if data is not None else None, "model": chosen, "optimizer": "adamw", "lr": lr or 1e-3,
              "weight_decay": 1e-4, "schedule": "cosine", "warmup_epochs": 0.25, "batch_size": batch_size or 32,
              "epochs": epochs or 15, "channels_last": False, "task_options": options,
              "model_kwargs": {"width": width} if width is not None else {}}
    values.update({k: v for k, v in (("seed", seed), ("threads", threads), ("device", device),
                                     ("out", str(out) if out else None), ("name", name)) if v is not None})
    _print_result(fit(TrainConfig.from_dict(values), progress=not quiet))


@voxels_app.command("eval", help="Accuracy, or completion IoU beside its baselines, on held-out solids.\n" + EXAMPLES)
def evaluate(
    model: Optional[str] = typer.Argument(None, help="A run of 'cnnkit voxels train' (default: the shipped model "
                                          "of --job)."),
    job: str = typer.Option("classify", "--job", help="With the shipped models: classify or complete."),
    count: int = typer.Option(500, "--count", help="Held-out solids to measure on (without --data)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Measure on a ModelNet folder's test split instead."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    import json

    from cnnkit.apps.voxels.files import SHIPPED, open_voxel_model
    from cnnkit.apps.voxels.task import evaluate_voxels, held_out_set
    from cnnkit.device import resolve_device
    from cnnkit.errors import ConfigError
    from cnnkit.runs.format import ModelInfo

    if not 1 <= count <= 100_000:
        raise ConfigError(f"--count must be in [1, 100000], got {count}")
    if job not in SHIPPED:
        raise ConfigError(f"--job must be classify or complete, got {job!r}")
    if model is not None and (Path(model) / "model.json").is_file():   # a run knows its own job
        job = ModelInfo.from_file(Path(model) / "model.json").task_options.get("job", "classify")
    network = open_voxel_model(model, job, device=resolve_device(device))
    test, classes = held_out_set(job, network.size, count, data)
    if job == "classify" and list(classes) != network.classes:
        raise ConfigError(f"{data or 'the generated solids'} has the classes {', '.join(classes)}; the model knows "
                          f"{', '.join(network.classes)}")
    metrics = evaluate_voxels(network.network, test, job).metrics
    typer.echo(json.dumps({"job": job, "shapes": len(test.grids), **{k: round(v, 4) for k, v in metrics.items()}},
                          indent=2))
