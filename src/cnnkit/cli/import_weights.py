"""``cnnkit import-weights``: a foreign state dict (.safetensors, .pt, .pth) as a run directory."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

EXAMPLES = """
\b
Examples:
  cnnkit import-weights lenet5 lenet.safetensors --out runs/lenet-imported --data mnist
  cnnkit import-weights lenet5 ckpt.pt --out runs/x --mean 0.5 --std 0.5 --classes names.txt
  cnnkit import-weights fastnet model.pth --out runs/y --model-kwargs '{"widths": [16, 32, 64]}'
  cnnkit import-weights lenet5 partial.pt --out runs/z --data digits --non-strict
"""


def register(app: typer.Typer) -> None:
    app.command(
        "import-weights",
        help="Load a state dict into a registered model and write a run directory; "
        "never runs code from the file.\n" + EXAMPLES,
    )(import_weights)


def _floats(text: str | None, flag: str) -> list[float] | None:
    from cnnkit.errors import ConfigError

    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: give numbers separated by commas, e.g. 0.485,0.456,0.406") from None


def _kwargs(text: str | None) -> dict:
    from cnnkit.errors import ConfigError

    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--model-kwargs is not valid JSON ({err.msg}); give an object such as '{{\"dropout\": 0.1}}'") from None
    if not isinstance(value, dict):
        raise ConfigError("--model-kwargs must be a JSON object such as '{\"dropout\": 0.1}'")
    return value


def import_weights(
    model: str = typer.Argument(..., help="Registered model name ('cnnkit models' lists them)."),
    file: Path = typer.Argument(..., help=".safetensors, or a .pt/.pth/.bin state dict saved by torch.save."),
    out: Path = typer.Option(..., help="The run directory to create; it must not exist."),
    data: Optional[str] = typer.Option(None, help="Take classes, channels, size, mean and std from this dataset."),
    data_dir: Optional[Path] = typer.Option(None, help="Folder datasets: directory holding the class folders."),
    num_classes: Optional[int] = typer.Option(None, help="Classes (default: read from the file's last layer)."),
    in_chans: Optional[int] = typer.Option(None, help="Input channels: 1 greyscale, 3 RGB (default: from the file)."),
    input_size: Optional[int] = typer.Option(None, help="Input height = width in pixels (default: the model's)."),
    mean: Optional[str] = typer.Option(None, help="Per-channel mean of pixels in [0, 1], e.g. 0.485,0.456,0.406."),
    std: Optional[str] = typer.Option(None, help="Per-channel std, e.g. 0.229,0.224,0.225."),
    classes: Optional[Path] = typer.Option(None, help="Text file with one class name per line (default 0..N-1)."),
    model_kwargs: Optional[str] = typer.Option(None, help="Other model options as a JSON object."),
    strict: bool = typer.Option(True, "--strict/--non-strict", help="Refuse any mismatch, or load only the fitting tensors."),
) -> None:
    import warnings

    from cnnkit.interop.import_weights import import_weights as run_import
    from cnnkit.interop.import_weights import read_classes

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_import(
            model, file, out,
            model_kwargs=_kwargs(model_kwargs), data=data, data_dir=data_dir, num_classes=num_classes,
            in_chans=in_chans, input_size=input_size, classes=read_classes(classes) if classes else None,
            mean=_floats(mean, "--mean"), std=_floats(std, "--std"), strict=strict,
        )  # fmt: skip
    for warning in caught:  # printed only on success: a failed import shows its one error line
        print(f"cnnkit: warning: {str(warning.message).splitlines()[0]}", file=sys.stderr)
    report = result.report
    typer.echo(
        f"loaded {len(report.loaded)} of {len(result.run.network.state_dict())} tensors "
        f"({result.parameters:,} parameters) into {result.run.info.architecture}: {result.run.path}"
    )
