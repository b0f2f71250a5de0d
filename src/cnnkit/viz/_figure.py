"""Figure plumbing shared by every plot in ``cnnkit.viz``.

Figures are built with matplotlib's object-oriented API on an Agg canvas, so no plot
touches pyplot's global state, picks a backend or opens a window. Each figure is rendered
to PNG in memory and then written atomically, so a failed render leaves no file behind.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cnnkit.atomic import atomic_write_bytes
from cnnkit.errors import OutputError

# 144 dpi is 1.5 device pixels per CSS pixel: sharp on ordinary screens, and the report
# shows each figure at its physical size so figure text matches the page's text.
DPI = 144

TRAIN_COLOR = "#2f6fd0"
TEST_COLOR = "#e07a10"
LR_COLOR = "#1f9d8a"
TEXT_COLOR = "#24292f"
GRID_COLOR = "#d8dde3"
NOTE_COLOR = "#59636e"

# Font sizes in points; at the report's physical scale 10 pt is about 13 CSS pixels.
SMALL_FONT = 9.5   # ticks, legends, notes
LABEL_FONT = 10.5  # axis labels
TITLE_FONT = 11.5  # panel titles


def new_figure(width: float, height: float, *, layout: str | None = "constrained") -> Figure:
    """A white figure of ``width`` x ``height`` inches on its own Agg canvas.

    ``layout`` is matplotlib's layout engine: "constrained" for plots, "compressed" for
    fixed-aspect images with a colour bar, None where the caller places the axes itself.
    """
    fig = Figure(
        figsize=(width, height),
        dpi=DPI,
        facecolor="white",
        layout=layout,
    )
    FigureCanvasAgg(fig)
    return fig


def style_axes(ax: Axes) -> None:
    """Quiet axes: no top/right spines, a light grid behind the data, small ticks."""
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#8c959f")
    ax.grid(True, color=GRID_COLOR, linewidth=0.7)
    ax.set_axisbelow(True)
    ax.tick_params(colors=TEXT_COLOR, labelsize=SMALL_FONT, length=3)
    for label in (ax.xaxis.label, ax.yaxis.label):
        label.set_color(TEXT_COLOR)
        label.set_fontsize(LABEL_FONT)


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Render ``fig`` to PNG in memory, then write it to ``path`` atomically."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    finally:
        fig.clear()
    path = Path(path)
    try:
        return atomic_write_bytes(path, buffer.getvalue())
    except OSError as err:
        raise OutputError(
            f"cannot write the figure {path}: {err.strerror or err}; "
            "check that its directory exists and is writable"
        ) from err
