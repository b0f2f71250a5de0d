"""The one progress bar of cnnkit: long work shows a rich bar on stderr with the time taken
(DESIGN.md conventions); ``--quiet`` (``enabled=False``) makes every call a no-op.

The bar appears with the first update, so an error raised before any work began stays the one
line the CLI prints. Training starts a new line per epoch (``start``); other work updates one
line. Progress callbacks across cnnkit have one signature, ``progress(done, total)``, which is
``ProgressBar.update``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = ["Progress", "ProgressBar"]

Progress = Callable[[int, int], None]   # progress(done, total): how a library function reports its work


class ProgressBar:
    """A rich progress bar on stderr: label, bar, done/total (``counts``), time, unit and a status text."""

    def __init__(self, label: str, *, unit: str = "steps", enabled: bool = True, counts: bool = True,
                 width: int = 24) -> None:
        self._label, self._task, self._bar = label, None, None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            columns = [TextColumn("[bold]{task.description}"), BarColumn(bar_width=width),
                       *([MofNCompleteColumn()] if counts else []), TimeElapsedColumn(),
                       TextColumn(unit), TextColumn("{task.fields[status]}")]
            self._bar = Progress(*columns, console=Console(stderr=True))
        self._shown = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if self._shown:
            self._bar.__exit__(kind, err, tb)  # type: ignore[union-attr]

    def start(self, label: str, total: int) -> None:
        """A new line below the finished ones (an epoch), ``total`` steps long."""
        if self._bar is None:
            return
        self._show()
        self._task = self._bar.add_task(label, total=total, status="")

    def update(self, done: int | None = None, total: int | None = None, *, status: str | None = None) -> None:
        """``done`` of ``total`` (a total may change: an early stop), and the status text after the bar;
        what is None stays as it was."""
        if self._bar is None:
            return
        if self._task is None:
            self.start(self._label, total if total is not None else 0)
        changes: dict[str, Any] = {}
        if done is not None:
            changes["completed"] = done
        if total is not None:
            changes["total"] = total
        if status is not None:
            changes["status"] = status
        self._bar.update(self._task, **changes)

    def _show(self) -> None:
        if not self._shown:
            self._bar.__enter__()  # type: ignore[union-attr]
            self._shown = True
