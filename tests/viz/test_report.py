"""Tests for cnnkit.viz.report: one self-contained, escaped, atomically written HTML page."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnkit.errors import OutputError
from cnnkit.viz import ReportSection, key_value_table, plot_image_grid, write_report

_VOID = {"meta", "img", "br", "hr", "link", "input", "source", "col", "wbr"}


class _Page(HTMLParser):
    """Collects tags, attributes and text, and checks that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, list[str]] = {}
        self.all_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()

    def handle_data(self, data):
        if self.stack:
            self.text.setdefault(self.stack[-1], []).append(data)
        self.all_text.append(data)

    def find(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.tags if t == tag]


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text("utf-8"))
    page.close()
    assert page.stack == [], f"unclosed elements: {page.stack}"
    return page


def _png(path: Path, size: tuple[int, int] = (288, 144), dpi: float = 144.0) -> Path:
    Image.new("RGB", size, (200, 30, 30)).save(path, dpi=(dpi, dpi))
    return path


@pytest.fixture
def report(tmp_path) -> tuple[Path, list[ReportSection]]:
    captions = ["true: 1\npred: 7", "true: 3\npred: 8"]
    grid = plot_image_grid(np.zeros((2, 1, 8, 8)), captions, tmp_path / "grid.png")
    timing = (("epoch", "time", "images/s"), ("1", "12 s", "5,012"), ("2", "–", "5,100"))
    sections = [
        ReportSection("Learning curves", images=(_png(tmp_path / "curves.png"),), text="First.\n\nSecond."),
        ReportSection("Misclassified", images=(grid,)),
        ReportSection("Configuration", table=key_value_table({"model": "lenet5", "lr": 0.1})),
        ReportSection("Timing", table=timing),
    ]
    path = write_report(
        tmp_path / "report.html",
        title="lenet5-mnist",
        subtitle="lenet5 on mnist",
        highlights=[("test accuracy", "99.10%"), ("model", "lenet5")],
        sections=sections,
    )
    return path, sections


def test_page_parses_and_names_every_section(report):
    path, sections = report
    page = _parse(path)
    assert "".join(page.text["title"]) == "lenet5-mnist"
    assert any(attrs.get("charset") == "utf-8" for attrs in page.find("meta"))
    headings = [t.strip() for t in page.text["h2"]]
    assert headings == [s.title for s in sections]
    ids = [attrs["id"] for attrs in page.find("section")]
    assert len(set(ids)) == len(ids)
    assert [a["href"] for a in page.find("a")] == [f"#{i}" for i in ids]   # the contents link to them
    assert page.text["p"][1:4] == ["lenet5 on mnist", "First.", "Second."]  # blank line: new paragraph


def test_page_is_self_contained(report, tmp_path):
    path, _ = report
    page = _parse(path)
    assert page.find("script") == [] and page.find("link") == []
    for _, attrs in page.tags:
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert not value.startswith(("http:", "https:", "//", "file:")), value
    images = page.find("img")
    assert len(images) == 2
    for attrs, name in zip(images, ("curves.png", "grid.png")):
        prefix = "data:image/png;base64,"
        assert attrs["src"].startswith(prefix)
        assert base64.b64decode(attrs["src"][len(prefix):]) == (tmp_path / name).read_bytes()
    assert "url(" not in path.read_text("utf-8")                   # no external fonts or backgrounds


def test_images_are_shown_at_their_physical_size(report):
    page = _parse(report[0])
    first = page.find("img")[0]
    # 288 x 144 pixels at 144 dpi is 2 x 1 inches: 192 x 96 CSS pixels
    assert (first["width"], first["height"]) == ("192", "96")


def test_tables_have_a_header_and_right_aligned_numbers(report):
    page = _parse(report[0])
    assert page.text["th"] == ["setting", "value", "epoch", "time", "images/s"]
    classes = [attrs.get("class") for tag, attrs in page.tags if tag in ("th", "td")]
    # the timing table: every column is numeric (a dash is a missing number)
    assert classes[-9:] == ["num"] * 9
    # the configuration table's value column mixes text and numbers: left-aligned
    assert classes[:6] == [None] * 6


def test_user_text_is_escaped(tmp_path):
    attack = "<script>alert('x')</script>"
    path = write_report(
        tmp_path / "report.html",
        title=attack,
        subtitle=attack,
        highlights=[(attack, attack)],
        sections=[ReportSection(attack, text=attack, table=(("k", "v"), (attack, attack)))],
    )
    page = _parse(path)
    assert page.find("script") == []
    assert sum(attack in t for t in page.all_text) >= 7
    assert "<script>" not in path.read_text("utf-8")


def test_long_tables_fold_away(tmp_path):
    rows = (("class", "recall"), *((f"c{i}", f"{i}%") for i in range(40)))
    path = write_report(tmp_path / "r.html", title="t", sections=[ReportSection("Per class", table=rows)])
    page = _parse(path)
    assert len(page.find("details")) == 1
    assert len(page.find("tr")) == 41


def test_ragged_table_is_rejected():
    with pytest.raises(ValueError, match="same number of cells"):
        ReportSection("bad", table=(("a", "b"), ("1",)))


def test_missing_figure_raises_and_leaves_the_old_report(tmp_path, assert_no_file):
    path = tmp_path / "report.html"
    with pytest.raises(OutputError, match="missing.png"):
        write_report(path, title="t", sections=[ReportSection("s", images=(tmp_path / "missing.png",))])
    assert_no_file(path)
    path.write_text("old", "utf-8")
    with pytest.raises(OutputError):
        write_report(path, title="t", sections=[ReportSection("s", images=(tmp_path / "missing.png",))])
    assert path.read_text("utf-8") == "old"


def test_unwritable_location_raises_output_error(tmp_path):
    with pytest.raises(OutputError, match="no-such-dir"):
        write_report(tmp_path / "no-such-dir" / "report.html", title="t")


def test_a_file_that_is_not_an_image_is_rejected(tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not a png")
    with pytest.raises(OutputError, match="not an image"):
        write_report(tmp_path / "r.html", title="t", sections=[ReportSection("s", images=(fake,))])
