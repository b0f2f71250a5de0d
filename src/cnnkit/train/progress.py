"""What the training bar says: epoch, loss, the task's metrics and items/s, on cnnkit's one
progress bar (one line per epoch); silent with --quiet."""

from __future__ import annotations

from types import TracebackType

from cnnkit.progress import ProgressBar

__all__ = ["TrainProgress"]


class TrainProgress:
    """One bar per epoch on stderr; a no-op when disabled."""

    def __init__(self, *, enabled: bool, epochs: int) -> None:
        self.epochs = epochs
        self._bar = ProgressBar("train", unit="", enabled=enabled, counts=False, width=16)
        self._status = ""

    def __enter__(self) -> TrainProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self._bar.__exit__(kind, err, tb)

    def start_epoch(self, epoch: int, steps: int) -> None:
        self._bar.start(f"epoch {epoch}/{self.epochs}", steps)

    def update(self, steps_done: int, *, loss: float, metrics: dict[str, float], speed: float) -> None:
        """Steps done in the epoch, the running mean loss, the task's training metrics and the speed."""
        self._status = f"loss {loss:.4f} {_shown(metrics, 'train_')} {speed:>6.0f} img/s"
        self._bar.update(steps_done, status=self._status)

    def end_epoch(self, *, test: dict[str, float]) -> None:
        """The epoch's test metric, shown at the bar's end."""
        if test:
            self._bar.update(status=f"{self._status} {_shown(test, 'test_', label='test ')}")


def _shown(metrics: dict[str, float], prefix: str, label: str = "") -> str:
    """'acc 91.23%' for accuracies (names ending in acc), 'psnr 31.2' for anything else."""
    parts = []
    for name, value in metrics.items():
        short = name.removeprefix(prefix)
        parts.append(f"{short} {value:6.2%}" if short.endswith("acc") else f"{short} {value:.4g}")
    return label + " ".join(parts)
