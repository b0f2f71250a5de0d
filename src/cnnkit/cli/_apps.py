"""What the application command groups (``cnnkit sr``, ``cnnkit flow``) share: a group whose bare
form runs its main command, and ``train --resume``, which takes no other setting. No torch at
import time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.core import TyperGroup


def group_running(default: str) -> type[TyperGroup]:
    """A TyperGroup where ``cnnkit GROUP ARGS...`` means ``cnnkit GROUP <default> ARGS...`` unless
    ARGS starts with one of its commands (``train``, ``eval``) or asks for help."""

    class DefaultCommandGroup(TyperGroup):
        def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
            if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
                args = [default, *args]
            return super().parse_args(ctx, args)

    DefaultCommandGroup.__name__ = f"RunsByDefault_{default}"
    return DefaultCommandGroup


def resume_instead(resume: Path, given: dict[str, Any], *, quiet: bool) -> None:
    """``train --resume RUN``: continue the run exactly as its config.json says; any other option given
    is refused (one line, exit 2) rather than silently ignored."""
    from cnnkit.cli.train import _print_result
    from cnnkit.errors import ConfigError
    from cnnkit.train import resume as resume_run

    fixed = [k for k, v in given.items() if v is not None]
    if fixed:
        raise ConfigError(f"--resume continues the run as its config.json says; drop --{fixed[0]}")
    _print_result(resume_run(resume, progress=not quiet))
