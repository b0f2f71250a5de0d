"""The rich progress bar of training: epoch, loss, the task's metrics and items/s; silent with --quiet."""

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
                TextColumn("loss {task.fields[loss]:.4f} {task.fields[shown]}"),
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
                "train", total=steps, epoch=epoch, epochs=self.epochs, loss=0.0, shown="", speed=0.0, test=""
            )

    def update(self, steps_done: int, *, loss: float, metrics: dict[str, float], speed: float) -> None:
        """Steps done in the epoch, the running mean loss, the task's training metrics and the speed."""
        if self._bar is not None:
            self._bar.update(self._task, completed=steps_done, loss=loss, shown=_shown(metrics, "train_"), speed=speed)

    def end_epoch(self, *, test: dict[str, float]) -> None:
        """The epoch's test metric, shown at the bar's end."""
        if self._bar is not None and test:
            self._bar.update(self._task, test=_shown(test, "test_", label="test "))


def _shown(metrics: dict[str, float], prefix: str, label: str = "") -> str:
    """'acc 91.23%' for accuracies (names ending in acc), 'psnr 31.2' for anything else."""
    parts = []
    for name, value in metrics.items():
        short = name.removeprefix(prefix)
        parts.append(f"{short} {value:6.2%}" if short.endswith("acc") else f"{short} {value:.4g}")
    return label + " ".join(parts)
