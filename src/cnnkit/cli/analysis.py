"""``cnnkit summary`` and ``cnnkit rf``: a network's layers, costs and receptive fields, untrained."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

SUMMARY_EXAMPLES = """
\b
Examples:
  cnnkit summary resnet50                      per-layer shapes, parameters, MACs; 4.09 GMACs
  cnnkit summary lenet5 --input 1x32x32 --classes 26
"""

RF_EXAMPLES = """
\b
Examples:
  cnnkit rf resnet18                           receptive field, jump and start of every layer
  cnnkit rf lenet5 --object-size 20            which layer first sees a whole 20-pixel object
"""

SHIFT_EXAMPLES = """
\b
Examples:
  cnnkit analysis shift runs/NAME                  consistency and accuracy under every shift of up to 4 px
  cnnkit analysis shift runs/LENET runs/RESNET --max-shift 6 --out shift-compare
  cnnkit analysis shift lenet5 --data digits       an untrained network: how invariant is the architecture alone?
"""

analysis_app = typer.Typer(help="Measure what a network does: shift invariance.", no_args_is_help=True,
                           rich_markup_mode=None)

_INPUT_HELP = "C x H x W, H x W or H (default: the model's own input, e.g. 3x224x224)."


def register(app: typer.Typer) -> None:
    app.command("summary", help="Per-layer output shapes, parameters and multiply-adds of a model.\n"
                + SUMMARY_EXAMPLES)(summary)
    app.command("rf", help="Receptive field size, jump (effective stride) and start of every layer.\n"
                + RF_EXAMPLES)(rf)
    app.add_typer(analysis_app, name="analysis")
    analysis_app.command("shift", help="Prediction consistency and accuracy under every translation of up to N "
                         "pixels, circular and zero-padded (Azulay & Weiss 2019; Zhang 2019), for one model or "
                         "several side by side; writes a table, a figure and JSON.\n" + SHIFT_EXAMPLES)(shift)


def _build(name: str, input_text: Optional[str], classes: Optional[int]):  # type: ignore[no-untyped-def]
    """The model on the meta device (no memory, no time) and the (C, H, W) it runs on."""
    import torch

    from cnnkit.analysis import parse_input
    from cnnkit.errors import ConfigError
    from cnnkit.models import create_model, get_model_entry

    entry = get_model_entry(name)
    size = parse_input(input_text) if input_text else (entry.in_chans, entry.input_size, entry.input_size)
    if len(size) == 1:
        size = (entry.in_chans, size[0], size[0])
    elif len(size) == 2:
        size = (entry.in_chans, *size)
    if classes is not None and classes < 1:
        raise ConfigError(f"--classes must be >= 1, got {classes}")
    kwargs = {"in_chans": size[0], "input_size": max(size[1:])}
    if classes is not None:
        kwargs["num_classes"] = classes
    with torch.device("meta"):
        model = create_model(name, **kwargs)
    return model, size


def _side(values: tuple) -> str:  # type: ignore[type-arg]
    """One number for a square field, H x W otherwise; 0.5 steps shown as such."""
    shown = [f"{v:g}" for v in values]
    return shown[0] if len(set(shown)) == 1 else "x".join(shown)


def summary(
    model: str = typer.Argument(..., help="A registered model name ('cnnkit models' lists them)."),
    input: Optional[str] = typer.Option(None, "--input", help=_INPUT_HELP),
    classes: Optional[int] = typer.Option(None, "--classes", help="Number of classes (default: the model's)."),
) -> None:
    from rich.console import Console
    from rich.table import Table

    from cnnkit.analysis import summary as summarise

    network, size = _build(model, input, classes)
    result = summarise(network, size)
    table = Table("layer", "type", "output", "parameters", "MACs", "receptive field", "unshared", "dense",
                  caption="unshared, dense: the weights a locally connected or a fully connected layer between "
                          "the convolution's input and output would need (biases aside)")
    for row in result.rows:
        field = "" if row.field is None else _side(row.field.r) + (" (all)" if row.field.is_global else "")
        local, dense = ("", "") if row.sharing is None else (f"{row.sharing.local:,}", f"{row.sharing.dense:,}")
        table.add_row(row.name, row.type, "x".join(map(str, row.output_shape[1:])),
                      f"{row.parameters:,}" if row.parameters else "", f"{row.macs:,}" if row.macs else "", field,
                      local, dense)
    console = Console()
    console.print(table)
    scaled = f"{result.gmacs:.2f} GMACs" if result.macs >= 10**7 else f"{result.macs / 1e6:.2f} MMACs"
    console.print(f"{model} on {'x'.join(map(str, size))}: {_parameters(result)}, "
                  f"{result.macs:,} multiply-adds = {scaled} per image", soft_wrap=True)
    if result.sharing is not None:
        console.print(_sharing_line(result), soft_wrap=True)


def _sharing_line(result) -> str:  # type: ignore[no-untyped-def]
    """The lecture's weight-sharing argument in numbers: the convolutions' weights, unshared and dense."""
    s, count = result.sharing, sum(1 for row in result.rows if row.sharing is not None)
    plural = "s" if count != 1 else ""
    return (f"weight sharing: the {count} convolution{plural} hold {s.shared:,} weights (biases aside); "
            f"locally connected they would need {s.local:,} ({s.local / s.shared:,.0f}x), "
            f"fully connected {s.dense:,} ({s.dense / s.shared:,.0f}x)")


def _parameters(result) -> str:  # type: ignore[no-untyped-def]
    """The parameter count; where evaluation skips modules (GoogLeNet's auxiliary heads, used only in
    training), both counts, since the MACs and the table's rows leave those modules out, as published
    figures do (GoogLeNet: 6.6 million)."""
    total = f"{result.parameters:,} parameters"
    if result.eval_parameters == result.parameters:
        return total
    skipped = ", ".join(result.not_run)
    return f"{total} ({result.eval_parameters:,} without {skipped}: not run in evaluation, nor in the MACs)"


def rf(
    model: str = typer.Argument(..., help="A registered model name ('cnnkit models' lists them)."),
    input: Optional[str] = typer.Option(None, "--input", help=_INPUT_HELP),
    object_size: Optional[int] = typer.Option(
        None, "--object-size", help="Object size in pixels: name the first layer whose field covers it."),
) -> None:
    from rich.console import Console
    from rich.table import Table

    from cnnkit.analysis import receptive_field
    from cnnkit.errors import ConfigError

    if object_size is not None and object_size < 1:
        raise ConfigError(f"--object-size must be >= 1 pixel, got {object_size}")
    network, size = _build(model, input, None)
    result = receptive_field(network, size)
    table = Table("layer", "type", "output", "r", "r (shortest path)", "jump", "start")
    for row in result.rows:
        f = row.field
        table.add_row(row.name, row.type, "x".join(map(str, row.output_shape[1:])),
                      _side(f.r) + (" (all)" if f.is_global else ""), _side(f.r_min), _side(f.jump), _side(f.start))
    console = Console()
    console.print(table)
    local = [row for row in result.rows if not row.field.is_global]
    if object_size is None or not local:
        return
    # Rule of thumb: the last local layer should see a whole object, or the classifier only ever
    # combines parts of it. Global pooling and fully connected layers see everything trivially.
    first = result.covering(object_size)
    last = local[-1]
    if first is None:
        console.print(f"no local layer sees a whole {object_size}-pixel object: the largest field is "
                      f"{last.r} pixels ({last.name}). The network is not deep enough for it: add layers "
                      f"or downsample earlier.", soft_wrap=True)
    else:
        index = local.index(first) + 1
        console.print(f"a {object_size}-pixel object is first covered by {first.name} (r = {first.r}, local "
                      f"layer {index} of {len(local)}); the last local layer sees {last.r} pixels: the "
                      f"network is deep enough.", soft_wrap=True)


def shift(
    sources: list[str] = typer.Argument(..., help="Run directories (runs/NAME) or registered model names, compared "
                                        "on the same test images."),
    max_shift: int = typer.Option(4, "--max-shift", help="Largest shift in pixels along each axis: every (dy, dx) "
                                  "with |dy|, |dx| <= N is measured."),
    mode: str = typer.Option("both", "--mode", help="circular, zeros or both."),
    count: int = typer.Option(500, "--count", help="Test images (a seeded random choice)."),
    data: Optional[str] = typer.Option(None, "--data", help="Dataset to draw images from (default: the first run's own)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Directory holding the dataset's files."),
    seed: int = typer.Option(0, "--seed", help="Random seed (the choice of images)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: RUN/analysis/shift, or "
                                       "analysis/MODEL/shift; analysis/shift for several models)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    from rich.console import Console
    from rich.table import Table

    from cnnkit.analysis.shift import SHIFT_MODES
    from cnnkit.attacks.base import check_count
    from cnnkit.cli._common import open_source
    from cnnkit.errors import ConfigError
    from cnnkit.progress import ProgressBar
    from cnnkit.reports.pages import OutputFolder
    from cnnkit.reports.shift import LEGEND, ShiftStudy, write_shift
    from cnnkit.runs.datasets import sample_images
    from cnnkit.schema import MAX_SEED

    modes = SHIFT_MODES if mode == "both" else (mode,)
    if mode != "both" and mode not in SHIFT_MODES:
        raise ConfigError(f"--mode must be circular, zeros or both, got {mode!r}")
    check_count(max_shift, "--max-shift", low=1, high=64)
    check_count(count, "--count", high=100_000)
    check_count(seed, "--seed", low=0, high=MAX_SEED)
    if len(set(sources)) != len(sources):
        raise ConfigError("a model is named twice; name each once")
    first = open_source(sources[0], device, classifier="analysis shift")
    runs = [first] + [_open_like(source, first, device) for source in sources[1:]]
    data = data or first.info.dataset
    x, y = sample_images(first, count, data=data, data_dir=data_dir, seed=seed)
    studies = []
    for source, run in zip(sources, runs):
        if (run.info.in_chans, run.info.input_size, len(run.info.classes)) != (
                first.info.in_chans, first.info.input_size, len(first.info.classes)):
            raise ConfigError(f"{source} takes {run.info.in_chans}x{run.info.input_size}x{run.info.input_size} images "
                              f"into {len(run.info.classes)} classes, unlike {sources[0]}; compare models of one dataset")
        studies.append(ShiftStudy(label=_label(source), run=run, x=x, y=y))
    if out is None and len(runs) > 1:
        out = Path("analysis") / "shift"
    output = OutputFolder(first, _label(sources[0]), "shift", out, group="analysis")
    with ProgressBar("shift", unit="shifts", enabled=not quiet) as bar:
        rows = write_shift(output, studies, max_shift=max_shift, modes=modes, progress=bar.update)
    table = Table(*rows[0])
    for row in rows[1:]:
        table.add_row(*row)
    console = Console()
    console.print(table)
    console.print(LEGEND, soft_wrap=True)
    console.print(f"{len(x)} {data} test images, every shift up to {max_shift} px; wrote {output.page}", soft_wrap=True)


def _open_like(source: str, first, device: str):  # type: ignore[no-untyped-def]
    """A run as it is, or a registered name built for the first model's images and classes, so the two compare."""
    from cnnkit.device import resolve_device
    from cnnkit.runs.opening import open_model, require_classifier

    if Path(source).is_dir():
        run = open_model(source, device=resolve_device(device))
    else:
        info = first.info
        run = open_model(source, device=resolve_device(device), num_classes=len(info.classes), in_chans=info.in_chans,
                         input_size=info.input_size)
    return require_classifier(run, source, "analysis shift")


def _label(source: str) -> str:
    """A run directory's name, or the registered name."""
    return Path(source).name or source
