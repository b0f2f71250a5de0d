"""``cnnkit predict``: the top-k classes of image files under a trained run."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import List

import typer

EXAMPLES = """
\b
Examples:
  cnnkit predict runs/RUN shirt.jpg boot.png
  cnnkit predict runs/RUN photo.jpg --top-k 5 --json
"""


def register(app: typer.Typer) -> None:
    app.command("predict", help="Classify PNG/JPEG files of any size and colour mode.\n" + EXAMPLES)(predict)


def predict(
    run: Path = typer.Argument(..., help="Run directory written by 'cnnkit train'."),
    images: List[Path] = typer.Argument(..., help="Image files."),
    top_k: int = typer.Option(3, "--top-k", "-k", help="How many classes to show per image."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    from cnnkit.runs.prediction import predict_files
    from cnnkit.runs.format import load_run

    from cnnkit.runs.opening import require_classifier

    predictions = predict_files(require_classifier(load_run(run), run, "predict"), images, top_k=top_k)
    if as_json:
        typer.echo(json.dumps([asdict(p) for p in predictions], indent=2))
        return
    for p in predictions:
        ranked = ", ".join(f"{c} {prob:.1%}" for c, prob in zip(p.classes, p.probabilities))
        typer.echo(f"{p.path}: {ranked}")
