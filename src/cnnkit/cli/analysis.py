"""``cnnkit summary`` and ``cnnkit rf``: a network's layers, costs and receptive fields, untrained."""

from __future__ import annotations

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

_INPUT_HELP = "C x H x W, H x W or H (default: the model's own input, e.g. 3x224x224)."


def register(app: typer.Typer) -> None:
    app.command("summary", help="Per-layer output shapes, parameters and multiply-adds of a model.\n"
                + SUMMARY_EXAMPLES)(summary)
    app.command("rf", help="Receptive field size, jump (effective stride) and start of every layer.\n"
                + RF_EXAMPLES)(rf)


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
    table = Table("layer", "type", "output", "parameters", "MACs", "receptive field")
    for row in result.rows:
        field = "" if row.field is None else _side(row.field.r) + (" (all)" if row.field.is_global else "")
        table.add_row(row.name, row.type, "x".join(map(str, row.output_shape[1:])),
                      f"{row.parameters:,}" if row.parameters else "", f"{row.macs:,}" if row.macs else "", field)
    console = Console()
    console.print(table)
    scaled = f"{result.gmacs:.2f} GMACs" if result.macs >= 10**7 else f"{result.macs / 1e6:.2f} MMACs"
    console.print(f"{model} on {'x'.join(map(str, size))}: {_parameters(result)}, "
                  f"{result.macs:,} multiply-adds = {scaled} per image", soft_wrap=True)


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
