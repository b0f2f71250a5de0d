"""One writer per run directory: ``with run_lock(run_dir, "cnnkit train --resume"): ...``.

Two processes writing one run (two ``--resume`` at once, an ``eval`` while training
rewrites metrics.jsonl) interleave their files: the red team's run listed epochs
1, 2, 2, 3, 3. The lock is the file ``.lock`` in the run directory, holding the owner's
pid, host, start time and command as JSON, plus an exclusive ``flock`` on it:

- taking it is atomic (``flock`` on an open descriptor, no check-then-create race);
- a process that dies, even by SIGKILL, loses its ``flock`` with its descriptors, so a
  stale ``.lock`` left by a dead process is recognised and taken over, never obeyed;
- the file names the holder, so the refusal says who holds the run and since when;
- released on exit: the owner removes the file, then drops the lock. A waiter that had
  opened the removed file checks after locking that the path still names the inode it
  holds, and starts again if not.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from cnnkit.errors import OutputError, RunDirError

__all__ = ["LOCK_FILE", "RunInUseError", "RunLock", "lock_if_inside", "run_lock"]

LOCK_FILE = ".lock"


class RunInUseError(RunDirError):
    """Another process is writing to the run directory."""


def _holder(fd: int) -> str:
    """Who holds the lock, in words, from the file's JSON (written by the holder)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode("utf-8"))
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["since"])))
        return f"process {int(info['pid'])} on {info['host']} ({info['command']}, since {since})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _same_file(fd: int, path: Path) -> bool:
    try:
        mine, now = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)


def _acquire(run_dir: Path, command: str) -> int:
    path = run_dir / LOCK_FILE
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as err:
            raise OutputError(
                f"cannot write to run directory {run_dir} ({err.strerror or err}); "
                "a command that writes into a run needs write access to it"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise RunInUseError(
                f"{run_dir} is in use by {holder}; wait for it to finish or stop it, then try again"
            ) from None
        if _same_file(fd, path):  # not a file its last owner removed while we waited to open it
            break
        os.close(fd)
    record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "command": command}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)
    return fd


class RunLock:
    """A held lock; ``moved`` follows the run directory when it is renamed while held."""

    def __init__(self, run_dir: Path, fd: int) -> None:
        self.run_dir, self._fd = run_dir, fd

    def moved(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def release(self) -> None:
        if self._fd < 0:
            return
        with contextlib.suppress(OSError):
            if _same_file(self._fd, self.run_dir / LOCK_FILE):
                (self.run_dir / LOCK_FILE).unlink()
        os.close(self._fd)  # drops the flock
        self._fd = -1


@contextlib.contextmanager
def run_lock(run_dir: str | Path, command: str | None = None) -> Iterator[RunLock]:
    """Hold the run directory's lock for the body; another writer is refused with RunInUseError."""
    run_dir = Path(run_dir)
    command = command or "cnnkit " + " ".join(arg for arg in sys.argv[1:3] if not arg.startswith("-"))
    lock = RunLock(run_dir, _acquire(run_dir, command))
    try:
        yield lock
    finally:
        lock.release()


def lock_if_inside(run_dir: str | Path | None, target: str | Path, command: str) -> contextlib.AbstractContextManager:
    """``run_lock(run_dir)`` when ``target`` (a file or folder to write) lies inside the run directory, else nothing."""
    if run_dir is None:
        return contextlib.nullcontext()
    run_dir, target = Path(run_dir).resolve(), Path(target).resolve()
    if target != run_dir and run_dir not in target.parents:
        return contextlib.nullcontext()
    return run_lock(run_dir, command)
