"""The pages that explain and attack invocations write: an output folder that appears only when
complete, one offline index.html gathering the figures, and JSON results without float noise.

No torch at import time: the CLI's help imports this module.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
from pathlib import Path
from typing import Any, Optional

from cnnkit.atomic import atomic_write_text

__all__ = ["OutputFolder", "rounded", "write_json", "write_page"]


class OutputFolder:
    """Where one invocation writes: --out, else RUN/GROUP/COMMAND or GROUP/MODEL/COMMAND (GROUP: explain, attack).

    ``with OutputFolder(...) as folder:`` gives ``.NAME.partial-PID`` beside the final folder to
    write into. When the block completes it is renamed to ``final``; an earlier invocation's folder
    there is replaced only then (renamed away, the new one renamed in, the old one removed). When
    the block fails the partial folder is removed, so a failed run leaves nothing half-written and
    an earlier complete folder as it was. Creating the object only checks the location, so
    every torchrun rank can check it while one writes.
    """

    def __init__(self, run: Any, source: str, command: str, out: Optional[Path], *, group: str = "explain") -> None:
        final = Path(out) if out is not None else (
            run.path / group / command if run.path is not None else Path(group) / source / command)
        if final.name in ("", ".", "..") or final.is_symlink():  # a name to put the partial folder beside
            final = final.resolve()
        self.final = final
        self.partial = final.parent / f".{final.name}.partial-{os.getpid()}"
        self._given = out is not None
        self._run_dir = run.path
        self._lock_name = f"cnnkit {group} {command}"
        self._check()

    @property
    def page(self) -> Path:
        """The page's final path, ``final/index.html``."""
        return self.final / "index.html"

    def _check(self) -> None:
        """Refuse a location that cannot be written, or a folder of the user's own that replacing would delete."""
        from cnnkit.errors import OutputError

        final = self.final
        if final.exists() and not final.is_dir():
            raise OutputError(f"output folder {final} is a file; choose another --out")
        if final.is_dir() and self._given and not _replaceable(final):
            raise OutputError(f"--out {final} holds files that no cnnkit explain or attack wrote, which replacing it "
                              "would delete; choose a new or empty folder")
        existing = final.parent
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            why = "is not a folder" if not existing.is_dir() else "is not writable"
            raise OutputError(f"cannot create output folder {final} ({existing} {why}); choose another --out")

    def __enter__(self) -> Path:
        from cnnkit.runs.lock import lock_if_inside

        # A folder inside a run directory is written under the run's lock, like every other writer of a run.
        self._lock = lock_if_inside(self._run_dir, self.final, self._lock_name)
        self._lock.__enter__()
        try:
            return self._enter()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise

    def _enter(self) -> Path:
        from cnnkit.errors import OutputError

        self._made = [folder for folder in self.final.parents if not folder.exists()]  # removed again on failure
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            if self.partial.exists():  # left by a killed process that had this pid
                shutil.rmtree(self.partial)
            self.partial.mkdir()
        except OSError as err:
            self._remove()
            raise OutputError(f"cannot create output folder {self.final} ({err.strerror}); "
                              "choose another --out") from None
        return self.partial

    def _remove(self) -> None:
        """Remove the partial folder and the parents made for it (deepest first; only while empty)."""
        shutil.rmtree(self.partial, ignore_errors=True)
        for folder in self._made:
            try:
                folder.rmdir()
            except OSError:
                break

    def __exit__(self, kind: Any, *exc: Any) -> None:
        try:
            self._exit(kind)
        finally:
            self._lock.__exit__(None, None, None)

    def _exit(self, kind: Any) -> None:
        if kind is not None:
            self._remove()
            return
        from cnnkit.errors import OutputError

        old = self.final.parent / f".{self.final.name}.old-{os.getpid()}"
        try:
            self._check()  # the location may have changed while the command ran
            if self.final.exists():
                os.rename(self.final, old)
                try:
                    os.rename(self.partial, self.final)
                except OSError:
                    os.rename(old, self.final)
                    raise
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(self.partial, self.final)
        except OSError as err:
            self._remove()
            raise OutputError(f"cannot move the finished output into {self.final} ({err.strerror}); "
                              "choose another --out") from None
        except BaseException:
            self._remove()
            raise


def _replaceable(folder: Path) -> bool:
    """An empty folder, or one holding a page that cnnkit wrote (index.html with cnnkit's generator tag)."""
    if not any(folder.iterdir()):
        return True
    page = folder / "index.html"
    if not page.is_file():
        return False
    try:
        with page.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return b'<meta name="generator" content="cnnkit' in head


def write_page(folder: Path, run: Any, source: str, command: str, sections: list[Any],
               highlights: tuple[tuple[str, str], ...] = (), *, group: str = "explain") -> Path:
    """``folder/index.html``: one offline page with the invocation's figures (and tables)."""
    from cnnkit.viz.report import write_report

    trained = "untrained" if run.path is None else f"trained on {run.info.dataset or 'imported weights'}"
    return write_report(folder / "index.html", title=f"cnnkit {group} {command}".rstrip(),
                        subtitle=f"{run.info.architecture} ({source}), {trained}",
                        highlights=highlights, sections=sections)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """``payload`` as indented JSON at ``path`` (atomically), its floats ``rounded``."""
    atomic_write_text(path, json.dumps(rounded(payload), indent=2) + "\n")


def rounded(value: Any) -> Any:
    """Every float in a JSON payload as the shortest decimal that reads back as the same float32.

    The numbers come from float32 tensors, so 0.3199999928474426 is written 0.32: nothing the
    computation knew is lost, and 8/255 keeps 7 digits (0.03137255).
    """
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    if not isinstance(value, float) or not math.isfinite(value):
        return value
    try:
        single = struct.pack("<f", value)
    except OverflowError:  # beyond float32's range: not a float32 number, kept as it is
        return value
    for digits in range(1, 10):  # 9 significant digits always read back as the same float32
        short = float(f"{value:.{digits}g}")
        if struct.pack("<f", short) == single:
            return short
    return value
