"""``cnnkit export``: write a trained run for other runtimes (ONNX), normalisation included."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

FORMATS = ("onnx",)

EXAMPLES = """
\b
Examples:
  cnnkit export runs/RUN                          writes runs/RUN/model.onnx
  cnnkit export runs/RUN --out lenet5.onnx --opset 18
"""


def register(app: typer.Typer) -> None:
    app.command("export", help="Export a trained run as one file that takes pixels in [0, 1].\n" + EXAMPLES)(export)


def export(
    run: Path = typer.Argument(..., help="Run directory written by 'cnnkit train'."),
    export_format: str = typer.Option("onnx", "--format", help="Output format: onnx."),
    out: Optional[Path] = typer.Option(None, help="Output file (default: RUN/model.onnx)."),
    opset: Optional[int] = typer.Option(None, help="ONNX operator set version (default: the exporter's)."),
) -> None:
    from cnnkit.errors import ConfigError

    if export_format not in FORMATS:
        raise ConfigError(f"unknown export format {export_format!r}; cnnkit export writes: {', '.join(FORMATS)}")
    from cnnkit.interop import export_onnx

    result = export_onnx(run, out, opset=opset)
    typer.echo(f"onnx opset {result.opset}, {result.size / 1e6:.2f} MB, dynamic batch, exported in {result.seconds:.1f} s")
    typer.echo(str(result.path))
