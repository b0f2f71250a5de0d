"""docs/hooks.py without a build: the lecture folder's checks, the figures' Markdown, the CLI and API pages.

The full build (tests/docs/test_site.py) needs `cnnkit lecture`'s output; these tests use a
lecture.json written here, so the messages a reader of `make docs` gets are checked on their own.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("cnnkit_docs_hooks", ROOT / "docs" / "hooks.py")
hooks = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = hooks  # as mkdocs loads it: dataclasses look their module up there
_spec.loader.exec_module(hooks)

PNG = b"\x89PNG\r\n\x1a\n"  # the hooks copy the file; they do not decode it


def _lecture(folder: Path, figures: dict[str, list[str]], *, write_images: bool = True) -> Path:
    parts = []
    for part, names in figures.items():
        parts.append({"name": part, "title": part.title(), "figures": [
            {"name": name, "title": f"{name} <title>", "caption": f"{name}: 3 x 3 kernel & *stars*, 0.5 s.",
             "image": f"{name}.png", "numbers": {"seconds": 0.5}, "seconds": 0.5} for name in names]})
        if write_images:
            for name in names:
                (folder / f"{name}.png").write_bytes(PNG)
    (folder / "lecture.json").write_text(json.dumps(
        {"cnnkit_version": "0.1.0", "commit": "0123456789abcdef", "cpu": "a CPU", "seconds": 2.5, "parts": parts}))
    return folder


def test_a_missing_lecture_folder_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match=r"cnnkit lecture --out build/lecture.*make docs"):
        hooks.read_lecture(tmp_path / "nowhere")


def test_a_figure_listed_but_absent_is_an_error(tmp_path: Path) -> None:
    _lecture(tmp_path, {"convolution": ["sobel"]}, write_images=False)
    with pytest.raises(PluginError, match="lists sobel.png, which is not in"):
        hooks.read_lecture(tmp_path)


def test_an_image_outside_the_folder_is_refused(tmp_path: Path) -> None:
    _lecture(tmp_path, {"convolution": ["sobel"]})
    data = json.loads((tmp_path / "lecture.json").read_text())
    data["parts"][0]["figures"][0]["image"] = "../sobel.png"
    (tmp_path / "lecture.json").write_text(json.dumps(data))
    with pytest.raises(PluginError, match="not a PNG file name inside the folder"):
        hooks.read_lecture(tmp_path)


def test_a_malformed_lecture_json_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "lecture.json").write_text('{"parts": [{"name": "convolution"}]}')
    with pytest.raises(PluginError, match="is not what `cnnkit lecture` writes"):
        hooks.read_lecture(tmp_path)


def test_figures_become_heading_image_and_caption(tmp_path: Path) -> None:
    lecture = hooks.read_lecture(_lecture(tmp_path, {"convolution": ["sobel", "borders"]}))
    text = hooks.part_markdown(lecture, "convolution", page_uri="lecture/convolution.md", partial=False)
    assert "### sobel \\<title\\> { #sobel }" in text
    assert "](../lecture/figures/sobel.png)" in text and "](../lecture/figures/borders.png)" in text
    assert "sobel: 3 x 3 kernel &amp; *stars*, 0.5 s." in text   # caption as text: no Markdown, HTML escaped
    assert text.index("#sobel") < text.index("#borders")         # lecture.json's order
    assert "2 figures of this site were made by cnnkit 0.1.0 (commit `0123456789`) on a CPU in 2 s" in (
        hooks.lecture_info(lecture))


def test_a_part_without_figures_fails_unless_partial(tmp_path: Path) -> None:
    lecture = hooks.read_lecture(_lecture(tmp_path, {"convolution": ["sobel"], "cnns": []}))
    for part in ("cnns", "adversarial"):  # listed without figures, or not listed at all
        with pytest.raises(PluginError, match=f"no figures of part '{part}'.*CNNKIT_DOCS_PARTIAL=1"):
            hooks.part_markdown(lecture, part, page_uri=f"lecture/{part}.md", partial=False)
        notice = hooks.part_markdown(lecture, part, page_uri=f"lecture/{part}.md", partial=True)
        assert notice.startswith('!!! warning "Not generated: run cnnkit lecture"')
    with pytest.raises(PluginError, match="no lecture part 'convolutions'"):
        hooks.part_markdown(lecture, "convolutions", page_uri="lecture/x.md", partial=True)


def test_the_cli_reference_has_every_command() -> None:
    import typer.main

    from cnnkit.cli.main import app

    text = hooks.cli_reference()
    root = typer.main.get_command(app)
    for name, command in root.commands.items():
        assert f"## cnnkit {name}\n" in text
        for sub in getattr(command, "commands", {}):
            assert f"### cnnkit {name} {sub}\n" in text
    assert "Usage: cnnkit explain saliency [OPTIONS]" in text


def test_the_api_pages_cover_the_public_modules() -> None:
    pages = {page.uri: page for page in hooks.api_pages(ROOT / "src")}
    ops = pages["reference/api/ops.md"].content
    assert "::: cnnkit.ops.conv\n" in ops and "::: cnnkit.ops._windows" not in ops   # private modules skipped
    assert "members: [" in pages["reference/api/models.md"].content                   # _registry's re-exports
    assert "create_model" in pages["reference/api/models.md"].content
    assert "reference/api/cli.md" not in pages
    uris = list(pages)
    assert uris.index("reference/api/ops.md") < uris.index("reference/api/models.md") < uris.index(
        "reference/api/attacks.md")   # DESIGN.md's order


def test_the_nav_entry_becomes_a_section() -> None:
    pages = hooks.api_pages(ROOT / "src")
    nav = hooks._with_api_section([{"Reference": [{"Python API": "reference/api/index.md"}]}], pages)
    section = nav[0]["Reference"][0]["Python API"]
    assert section[0] == "reference/api/index.md" and {"cnnkit.ops": "reference/api/ops.md"} in section
