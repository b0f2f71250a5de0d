"""``cnnkit models``: the registered models with their parameters and input size."""

from __future__ import annotations

from typing import Optional

import typer

EXAMPLES = """
\b
Examples:
  cnnkit models
  cnnkit models 'resnet*'
"""


def register(app: typer.Typer) -> None:
    app.command("models", help="List the registered models.\n" + EXAMPLES)(models)


def models(pattern: Optional[str] = typer.Argument(None, help="Shell-style filter, e.g. 'vgg*'.")) -> None:
    from rich.console import Console
    from rich.table import Table

    from cnnkit.models import describe_models

    table = Table("name", "parameters", "input", "description")
    for row in describe_models(pattern):
        table.add_row(row.name, f"{row.parameters:,}", row.input, row.summary)
    Console().print(table)
