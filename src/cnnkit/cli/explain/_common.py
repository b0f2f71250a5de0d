"""What every ``cnnkit explain`` command shares: the model source, the images, the output folder
and the HTML page that gathers one invocation's figures. No torch at import time."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Optional

import typer

RUN_ARG = typer.Argument(..., help="A run directory (runs/NAME) or a registered model name (fresh weights).")
IMAGES_OPT = typer.Option(None, "--image", help="Image file(s) to explain; converted and resized to the model's input.")
COUNT_OPT = typer.Option(8, "--count", help="Without --image: this many test images of the run's dataset.")
DATA_OPT = typer.Option(None, "--data", help="Dataset to draw images from (default: the run's own).")
DATA_DIR_OPT = typer.Option(None, "--data-dir", help="Directory holding the dataset's files.")
SEED_OPT = typer.Option(0, "--seed", help="Random seed (image choice, noise, directions).")
OUT_OPT = typer.Option(None, "--out", help="Output folder (default: RUN/explain/COMMAND, or explain/MODEL/COMMAND).")
DEVICE_OPT = typer.Option("auto", "--device", help="auto, cpu or cuda.")
QUIET_OPT = typer.Option(False, "--quiet", "-q", help="No progress bar.")


def open_source(source: str, device: str) -> Any:
    """The Run behind RUN (a run directory or a registered name) on the chosen device."""
    from cnnkit.train.device import resolve_device
    from cnnkit.train.inference import open_model

    return open_model(source, device=resolve_device(device))


def pick_images(run: Any, images: Optional[list[Path]], count: int, data: Optional[str],
                data_dir: Optional[Path], seed: int) -> tuple[Any, Any, list[str]]:
    """(x, y or None, captions): the given image files, else ``count`` images of the dataset."""
    from cnnkit.modes import device_of
    from cnnkit.train.inference import load_images, sample_images

    device = device_of(run.model)
    if images:
        x = load_images(images, run.info)
        return x.to(device), None, [Path(p).name for p in images]
    if run.info.dataset is None and data is None:
        from cnnkit.errors import ConfigError

        raise ConfigError("this model records no dataset; pass --image FILE (or --data NAME)")
    x, y = sample_images(run, count, data=data, data_dir=data_dir, seed=seed)
    return x.to(device), y.to(device), [run.info.classes[i] for i in y.tolist()]


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
        from cnnkit.train.runlock import lock_if_inside

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


class StepBar:
    """A rich progress bar on stderr (steps, grid points, ...) with the time taken; a no-op when disabled."""

    def __init__(self, label: str, *, unit: str = "steps", enabled: bool = True) -> None:
        self._progress = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(TextColumn(f"[bold]{label}"), BarColumn(bar_width=24), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn(unit), console=Console(stderr=True))
        self._task = None
        self._label = label

    def __enter__(self) -> StepBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._task is not None:  # shown only once work began, so an early error stays one line
            self._progress.__exit__(*exc)  # type: ignore[union-attr]

    def update(self, done: int, total: int) -> None:
        """The ``progress(done, total)`` callback every explain method and attack calls."""
        if self._progress is None:
            return
        if self._task is None:
            self._progress.__enter__()
            self._task = self._progress.add_task(self._label, total=total)
        self._progress.update(self._task, completed=done, total=total)  # a total may shrink (an early stop)
