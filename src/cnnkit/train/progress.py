"""The rich progress bar of training: epoch, loss, accuracy and images/s; silent with --quiet."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["TrainProgress"]


class TrainProgress:
    """One bar per epoch on stderr; a no-op when disabled."""

    def __init__(self, *, enabled: bool, epochs: int) -> None:
        self.epochs = epochs
        self._bar = (
            Progress(
                TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
                BarColumn(bar_width=16),
                TimeElapsedColumn(),
                TextColumn("loss {task.fields[loss]:.4f} acc {task.fields[acc]:6.2%}"),
                TextColumn("{task.fields[speed]:>6.0f} img/s"),
                TextColumn("{task.fields[test]}"),
                console=Console(stderr=True),
                transient=False,
            )
            if enabled
            else None
        )
        self._task = None

    def __enter__(self) -> TrainProgress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, err, tb)

    def start_epoch(self, epoch: int, steps: int) -> None:
        if self._bar is not None:
            self._task = self._bar.add_task(
                "train", total=steps, epoch=epoch, epochs=self.epochs, loss=0.0, acc=0.0, speed=0.0, test=""
            )

    def update(self, steps_done: int, *, loss: float, acc: float, speed: float) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=steps_done, loss=loss, acc=acc, speed=speed)

    def end_epoch(self, *, test_acc: float | None) -> None:
        if self._bar is not None and test_acc is not None:
            self._bar.update(self._task, test=f"test {test_acc:6.2%}")
