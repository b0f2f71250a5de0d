"""``cnnkit models``: the registered models with their parameters and input size."""

from __future__ import annotations

from typing import Optional

import typer

EXAMPLES = """
\b
Examples:
  cnnkit models
  cnnkit models 'resnet*'
  cnnkit models --task superres
"""


def register(app: typer.Typer) -> None:
    app.command("models", help="List the registered models.\n" + EXAMPLES)(models)


def models(
    pattern: Optional[str] = typer.Argument(None, help="Shell-style filter, e.g. 'vgg*'."),
    task: Optional[str] = typer.Option(None, "--task", help="Only this task's models: classification, superres or flow."),
) -> None:
    from rich.console import Console
    from rich.table import Table

    from cnnkit.models import describe_models

    rows = describe_models(pattern, task=task)
    if task is not None and not rows:
        from cnnkit.errors import ConfigError
        from cnnkit.models._registry import task_names

        raise ConfigError(f"no {task!r} models; tasks: {', '.join(task_names())}")
    table = Table("name", "task", "parameters", "input", "description")
    for row in rows:
        table.add_row(row.name, row.task, f"{row.parameters:,}", row.input, row.summary)
    Console().print(table)
