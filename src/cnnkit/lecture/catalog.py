"""The lecture's figures in the lecture's order: each a function registered with its part, name and title.

A figure function takes the shared ``LectureContext`` and the PNG path to write, draws the figure
from real computation with cnnkit's own functions, and returns a ``Figure``: the caption (what
was computed and the numbers behind it, as plain text) and those numbers as JSON values.
Registration order within a part is the lecture's order; ``PARTS`` orders the parts.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnkit.errors import ConfigError

__all__ = ["PARTS", "Figure", "LectureFigure", "figures", "lecture_figure", "select_figures"]

PARTS: dict[str, str] = {
    "convolution": "Convolution and filtering",
    "cnns": "Building CNNs",
    "visualisation": "Looking inside a CNN",
    "adversarial": "Adversarial examples",
}

# The part modules, imported in this order the first time the catalogue is asked for.
_MODULES = ("cnnkit.lecture.convolution", "cnnkit.lecture.cnns", "cnnkit.lecture.visualisation",
            "cnnkit.lecture.adversarial")


@dataclass(frozen=True)
class Figure:
    """What a figure function returns besides its PNG: the caption and the numbers it states."""

    caption: str
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LectureFigure:
    """One entry of the catalogue."""

    part: str
    name: str
    title: str
    make: Callable[[Any, Path], Figure]


_CATALOGUE: list[LectureFigure] = []


def lecture_figure(part: str, name: str, title: str) -> Callable[[Callable[[Any, Path], Figure]], Callable[[Any, Path], Figure]]:
    """Register ``make(context, path) -> Figure`` as the figure ``name`` of ``part``."""
    if part not in PARTS:
        raise ValueError(f"unknown lecture part {part!r}")

    def register(make: Callable[[Any, Path], Figure]) -> Callable[[Any, Path], Figure]:
        if any(entry.name == name for entry in _CATALOGUE):
            raise ValueError(f"lecture figure {name!r} registered twice")
        _CATALOGUE.append(LectureFigure(part=part, name=name, title=title, make=make))
        return make

    return register


def figures() -> list[LectureFigure]:
    """Every figure, parts in ``PARTS`` order, each part in registration order."""
    import importlib

    for module in _MODULES:
        importlib.import_module(module)
    order = list(PARTS)
    return sorted(_CATALOGUE, key=lambda entry: order.index(entry.part))  # sorted() is stable


def select_figures(only: list[str] | None) -> list[LectureFigure]:
    """The figures named in ``only`` (names or part names), in lecture order; all when ``only`` is None."""
    every = figures()
    if not only:
        return every
    names = {entry.name for entry in every} | set(PARTS)
    for wanted in only:
        if wanted not in names:
            close = difflib.get_close_matches(wanted, sorted(names), n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ConfigError(f"no lecture figure or part {wanted!r}{hint} ('cnnkit lecture --list' lists them)")
    return [entry for entry in every if entry.name in only or entry.part in only]
