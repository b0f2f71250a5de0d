"""Stopping training cleanly: SIGINT (Ctrl-C) and SIGTERM (a scheduler's kill) end the
current step, write a checkpoint and exit with 130 / 143, so ``cnnkit train --resume``
continues exactly where the run stopped. A second Ctrl-C stops at once; the run then
resumes from its previous checkpoint.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

from cnnkit.errors import TrainingInterrupted

__all__ = ["StopSignals", "TrainingInterrupted"]


class StopSignals:
    """While active, SIGINT and SIGTERM only set ``requested``; the loop checks it after each step."""

    def __init__(self) -> None:
        self.requested: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():  # signals go to the main thread only
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now
        self.requested = signum
