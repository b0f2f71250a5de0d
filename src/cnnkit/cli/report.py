"""``cnnkit report``: rebuild a run's report.html from its directory."""

from __future__ import annotations

from pathlib import Path

import typer

EXAMPLES = """
\b
Example:
  cnnkit report runs/lenet5-fashion-mnist-20261126-120000
"""


def register(app: typer.Typer) -> None:
    app.command("report", help="Rebuild report.html (curves, confusion, filters, mistakes).\n" + EXAMPLES)(report)


def report(run: Path = typer.Argument(..., help="Run directory written by 'cnnkit train'.")) -> None:
    from cnnkit.train.report import rebuild_report

    typer.echo(str(rebuild_report(run)))
