"""``cnnkit eval``: accuracy, per-class precision/recall and the confusion matrix of a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

EXAMPLES = """
\b
Examples:
  cnnkit eval runs/lenet5-fashion-mnist-20261126-120000
  cnnkit eval RUN --data mnist --data-dir ~/datasets/mnist --json
"""


def register(app: typer.Typer) -> None:
    app.command("eval", help="Evaluate a trained run on a dataset's test split.\n" + EXAMPLES)(evaluate_run)


def evaluate_run(
    run: Path = typer.Argument(..., help="Run directory written by 'cnnkit train'."),
    data: Optional[str] = typer.Option(None, help="Dataset (default: the one the run was trained on)."),
    data_dir: Optional[Path] = typer.Option(None, help="Directory holding the dataset's files."),
    split: str = typer.Option("test", help="test or train."),
    tta: bool = typer.Option(False, "--tta/--no-tta", help="Average with mirror images."),
    out: Optional[Path] = typer.Option(None, help="Where to write the confusion matrix (default: the run)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    from cnnkit.runs.evaluation import evaluate_run_dir

    report = evaluate_run_dir(run, data=data, data_dir=data_dir, split=split, tta=tta, out=out)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"{report.dataset} {report.split}: accuracy [bold]{report.accuracy:.2%}[/] "
                  f"on {report.images} images, loss {report.loss:.4f}")
    table = Table("class", "precision", "recall", "support")
    for row in report.per_class:
        table.add_row(row["class"], f"{row['precision']:.3f}", f"{row['recall']:.3f}", str(row["support"]))
    console.print(table)
    console.print(f"confusion matrix: {report.confusion_png}")
