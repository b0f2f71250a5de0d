"""``cnnkit lecture``: every figure of the lecture regenerated into one folder, with lecture.json and index.html.

lecture.json lists the parts in order, each with its figures (name, title, caption, image, the
numbers the caption states, seconds). With ``only``, the named figures are redrawn and the
others already in the folder are kept, so the index always shows everything drawn so far.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

from cnnkit.errors import OutputError
from cnnkit.lecture.catalog import PARTS, select_figures
from cnnkit.lecture.context import LectureContext
from cnnkit.progress import Progress

__all__ = ["LECTURE_FILE", "build_lecture"]

LECTURE_FILE = "lecture.json"


def build_lecture(out: str | Path, *, only: list[str] | None = None, data: str = "fashion-mnist",
                  data_dir: str | None = None, epochs: int = 2, seed: int = 0, device: str = "cpu",
                  progress: Progress | None = None) -> dict[str, Any]:
    """Draw the lecture's figures (all, or those in ``only``) into ``out``; returns lecture.json's content."""
    from cnnkit.reports.pages import write_json

    from cnnkit.data import dataset_spec

    chosen = select_figures(only)
    dataset_spec(data, data_dir=data_dir)  # an unknown dataset fails here, before anything is written
    out = Path(out)
    _check_folder(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the lecture folder {out} ({err.strerror}); choose another --out") from None
    context = LectureContext(work=out / "_work", data=data, data_dir=data_dir, epochs=epochs, seed=seed, device=device)
    drawn = _previous(out)
    started = time.perf_counter()
    for done, entry in enumerate(chosen):
        began = time.perf_counter()
        figure = entry.make(context, out / f"{entry.name}.png")
        drawn[entry.name] = {"name": entry.name, "part": entry.part, "title": entry.title, "caption": figure.caption,
                             "image": f"{entry.name}.png", "numbers": figure.numbers,
                             "seconds": round(time.perf_counter() - began, 2)}
        if progress is not None:
            progress(done + 1, len(chosen))
    lecture = _lecture(drawn, seconds=time.perf_counter() - started)
    write_json(out / LECTURE_FILE, lecture)
    _write_index(out, lecture)
    return lecture


def _check_folder(out: Path) -> None:
    """Refuse a file, or a folder holding anything but what ``cnnkit lecture`` writes (also when a run was
    interrupted: its figures, _work/, lecture.json, cnnkit's index.html, an atomic write's temporary file)."""
    from cnnkit.lecture.catalog import figures

    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; choose a folder")
    if not out.is_dir():
        return
    ours = {"_work", LECTURE_FILE, "index.html"} | {f"{entry.name}.png" for entry in figures()}
    for entry in out.iterdir():
        name = entry.name
        temporary = name.endswith(".tmp") and any(name.startswith(f".{own}.") for own in ours)  # atomic.py's names
        page = name == "index.html" and b'<meta name="generator" content="cnnkit' not in entry.read_bytes()[:4096]
        if (name not in ours and not temporary) or page:
            raise OutputError(f"--out {out} holds files that cnnkit lecture did not write ({name}), which its "
                              "figures could overwrite; choose a new or empty folder")


def _previous(out: Path) -> dict[str, dict[str, Any]]:
    """Figures an earlier invocation drew into ``out`` whose PNG is still there (an unreadable index is ignored)."""
    try:
        earlier = json.loads((out / LECTURE_FILE).read_text(encoding="utf-8"))
        return {f["name"]: {**f, "part": part["name"]} for part in earlier["parts"] for f in part["figures"]
                if f["image"] == f"{f['name']}.png" and (out / f["image"]).is_file()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _lecture(drawn: dict[str, dict[str, Any]], *, seconds: float) -> dict[str, Any]:
    from cnnkit import __version__
    from cnnkit.device import cpu_name
    from cnnkit.lecture.catalog import figures

    order = [entry.name for entry in figures()]
    parts = []
    for part, title in PARTS.items():
        chosen = sorted((f for f in drawn.values() if f["part"] == part and f["name"] in order),
                        key=lambda f: order.index(f["name"]))
        parts.append({"name": part, "title": title,
                      "figures": [{k: v for k, v in f.items() if k != "part"} for f in chosen]})
    return {"cnnkit_version": __version__, "commit": _commit(), "cpu": cpu_name() or platform.processor(),
            "seconds": round(seconds, 1), "parts": parts}


def _commit() -> str | None:
    """The git commit of the cnnkit checkout, when it is one."""
    import subprocess

    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _write_index(out: Path, lecture: dict[str, Any]) -> Path:
    """index.html: one offline page, the figures embedded in lecture order with their captions."""
    from cnnkit.viz.report import ReportSection, write_report

    sections = []
    for part in lecture["parts"]:
        for figure in part["figures"]:
            sections.append(ReportSection(f"{part['title']}: {figure['title']}", images=(out / figure["image"],),
                                          text=figure["caption"]))
    count = sum(len(part["figures"]) for part in lecture["parts"])
    return write_report(out / "index.html", title="The CNN lecture, executed",
                        subtitle=f"cnnkit {lecture['cnnkit_version']}: {count} figures made by cnnkit's own code",
                        highlights=(("figures", str(count)), ("CPU", lecture["cpu"] or "unknown")), sections=sections)
