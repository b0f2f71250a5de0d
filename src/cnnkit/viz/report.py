"""The report of a training run: one self-contained HTML page that opens offline.

Every figure is embedded as a base64 data URI and the style sheet is inline, so the page
references nothing outside itself: no scripts, fonts, style sheets or images to fetch.
All text that goes into the page is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template

from PIL import Image

from cnnkit import __version__
from cnnkit.atomic import atomic_write_text
from cnnkit.errors import OutputError
from cnnkit.viz.tables import Table

__all__ = ["ReportSection", "render_report", "write_report"]

# Longer tables fold into a <details> element so that the figures stay in view.
_MAX_OPEN_ROWS = 25

# A number with optional unit words, as the tables in viz.tables write them: "0.1", "91.2%",
# "1,024", "3 min 12 s", "1e-05".
_NUMBER = re.compile(
    r"[-+]?\d[\d,]*(\.\d+)?(e[-+]?\d+)?\s*(%|h|min|s|ms|x)?"
    r"(\s+\d+(\.\d+)?\s*(h|min|s|ms))*",
    re.IGNORECASE,
)
_MISSING = {"–", "-", "—", ""}

_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


@dataclass(frozen=True)
class ReportSection:
    """One section of the report: a heading, then paragraphs, figures and a table, in that order.

    ``text`` is plain text; a blank line starts a new paragraph. ``images`` are image files
    (PNG as written by ``cnnkit.viz``) that are embedded in the page. ``table`` is a tuple of
    rows of strings whose first row is the header, as ``cnnkit.viz.tables`` builds them.
    """

    title: str
    images: tuple[Path, ...] = ()
    text: str = ""
    table: Table = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", tuple(Path(p) for p in self.images))
        object.__setattr__(self, "table", tuple(tuple(str(c) for c in row) for row in self.table))
        widths = {len(row) for row in self.table}
        if len(widths) > 1:
            raise ValueError(
                f"every row of the table in section {self.title!r} needs the same number of "
                f"cells; got rows of {sorted(widths)} cells"
            )


def _escape(text: object) -> str:
    return html.escape(str(text), quote=True)


def _slug(title: str, taken: set[str]) -> str:
    """A unique id for a section heading, so the contents can link to it."""
    base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _embedded_image(path: Path) -> str:
    """An <img> with the file embedded, shown at its physical size (pixels / dpi) where it fits."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise OutputError(
            f"cannot read the figure {path} for the report: {err.strerror or err}; "
            "render the figures before writing the report"
        ) from err
    if path.suffix.lower() == ".svg":
        mime, size = "image/svg+xml", None
    else:
        try:
            with Image.open(io.BytesIO(data)) as image:
                mime = _MIME.get(image.format or "")
                size, dpi = image.size, image.info.get("dpi", (96.0, 96.0))[0] or 96.0
        except OSError as err:
            raise OutputError(f"the figure {path} is not an image the report can embed: {err}") from err
        if mime is None:
            raise OutputError(
                f"the figure {path} is {image.format}; the report embeds PNG, JPEG, GIF or WebP"
            )
    alt = path.stem.replace("_", " ").replace("-", " ")
    src = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    dims = ""
    if size is not None:
        # CSS pixels are 1/96 in: a 144-dpi figure is drawn at 2/3 of its pixel width,
        # so its text matches the page's text and it stays sharp on high-density screens.
        width = max(1, round(size[0] * 96.0 / float(dpi)))
        height = max(1, round(size[1] * 96.0 / float(dpi)))
        dims = f' width="{width}" height="{height}"'
    return f'<figure><img src="{src}" alt="{_escape(alt)}"{dims}></figure>'


def _numeric_columns(body: Sequence[tuple[str, ...]], width: int) -> list[bool]:
    """Which columns hold only numbers (or dashes), to be right-aligned."""
    numeric = []
    for j in range(width):
        cells = [row[j].strip() for row in body if row[j].strip() not in _MISSING]
        numeric.append(bool(cells) and all(_NUMBER.fullmatch(c) for c in cells))
    return numeric


def _table(table: Table) -> str:
    """A header row and body rows as an HTML table; long tables fold into <details>."""
    header, body = table[0], table[1:]
    numeric = _numeric_columns(body, len(header))

    def cell(tag: str, text: str, j: int) -> str:
        cls = ' class="num"' if numeric[j] else ""
        scope = ' scope="col"' if tag == "th" else ""
        return f"<{tag}{cls}{scope}>{_escape(text)}</{tag}>"

    head = "".join(cell("th", h, j) for j, h in enumerate(header))
    rows = "\n".join("<tr>" + "".join(cell("td", c, j) for j, c in enumerate(row)) + "</tr>" for row in body)
    out = (
        f'<div class="table-wrap"><table>\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{rows}\n</tbody>\n</table></div>"
    )
    if len(body) > _MAX_OPEN_ROWS:
        out = f"<details><summary>Show the table ({len(body):,} rows)</summary>\n{out}\n</details>"
    return out


def _section(section: ReportSection, slug: str) -> str:
    parts = [f'<section id="{slug}">', f"<h2>{_escape(section.title)}</h2>"]
    for paragraph in re.split(r"\n\s*\n", section.text.strip()):
        if paragraph:
            parts.append(f"<p>{_escape(paragraph)}</p>")
    if section.images:
        parts.append('<div class="figures">')
        parts.extend(_embedded_image(p) for p in section.images)
        parts.append("</div>")
    if section.table:
        parts.append(_table(section.table))
    parts.append("</section>")
    return "\n".join(parts)


def render_report(
    *,
    title: str,
    subtitle: str = "",
    highlights: Sequence[tuple[str, str]] = (),
    sections: Sequence[ReportSection] = (),
    footer: str | None = None,
) -> str:
    """The report page as one self-contained HTML string (see ``write_report``)."""
    taken: set[str] = set()
    slugs = [_slug(s.title, taken) for s in sections]
    body = ['<header class="run">', '<p class="kicker">cnnkit report</p>', f"<h1>{_escape(title)}</h1>"]
    if subtitle:
        body.append(f'<p class="subtitle">{_escape(subtitle)}</p>')
    if highlights:
        body.append('<dl class="highlights">')
        body.extend(
            f'<div class="highlight"><dt>{_escape(label)}</dt><dd>{_escape(value)}</dd></div>'
            for label, value in highlights
        )
        body.append("</dl>")
    body.append("</header>")
    if len(sections) >= 3:
        links = "".join(
            f'<li><a href="#{slug}">{_escape(s.title)}</a></li>' for s, slug in zip(sections, slugs)
        )
        body.append(f'<nav class="toc" aria-label="contents"><ol>{links}</ol></nav>')
    body.extend(_section(s, slug) for s, slug in zip(sections, slugs))
    note = footer if footer is not None else (
        f"Generated by cnnkit {__version__}. This page is self-contained: it opens offline."
    )
    body.append(f"<footer>{_escape(note)}</footer>")
    template = Template(resources.files(__package__).joinpath("report_template.html").read_text("utf-8"))
    return template.substitute(title=_escape(title), version=_escape(__version__), body="\n".join(body))


def write_report(
    path: str | os.PathLike[str],
    *,
    title: str,
    subtitle: str = "",
    highlights: Sequence[tuple[str, str]] = (),
    sections: Sequence[ReportSection] = (),
    footer: str | None = None,
) -> Path:
    """Write the run report (``report.html``): one offline HTML page with its figures embedded.

    ``highlights`` are (label, value) pairs shown as cards under the title, e.g.
    ``("test accuracy", "91.3%")``. The file is written atomically. Returns ``path``.
    """
    page = render_report(
        title=title, subtitle=subtitle, highlights=highlights, sections=sections, footer=footer
    )
    path = Path(path)
    try:
        return atomic_write_text(path, page)
    except OSError as err:
        raise OutputError(
            f"cannot write the report {path}: {err.strerror or err}; "
            "check that its directory exists and is writable"
        ) from err
