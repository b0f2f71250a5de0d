"""MkDocs hooks of cnnkit's site: the pages that are generated when the site is built.

- **The lecture's figures.** ``cnnkit lecture --out DIR`` writes ``DIR/lecture.json`` and one PNG
  per figure. The folder is ``$CNNKIT_LECTURE_DIR``, or ``build/lecture`` beside mkdocs.yml (what
  ``make docs`` writes). Its PNGs become ``lecture/figures/NAME.png`` and every marker line
  ``<!-- lecture-figures: PART -->`` becomes that part's figures: title, image and caption. A part
  with no figures is an error, unless ``CNNKIT_DOCS_PARTIAL=1``, where it gets a visible notice.
- **The command-line reference** (``reference/cli.md``): every command and sub-command of
  ``cnnkit``, walked from typer's click command, each with the help text its ``--help`` prints,
  so a new command is documented by the next build.
- **The Python API reference** (``reference/api/PKG.md``): one page per subpackage of cnnkit,
  each module of it a mkdocstrings ``:::`` block (modules, not packages: several packages export
  their names lazily, PEP 562). Private modules are skipped; what a package re-exports from one
  of them (``cnnkit.models.create_model`` from ``_registry``) is shown on the package's page.
  The nav entry ``reference/api/index.md`` becomes a section with one page per package.
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from cnnkit.lecture.catalog import PARTS

LECTURE_PARTS = tuple(PARTS)      # the lecture's parts, in order, as cnnkit lecture writes them
MARKER = re.compile(r"^<!-- lecture-figures: ([a-z-]+) -->[ \t]*$", re.MULTILINE)
INFO_MARKER = "<!-- lecture-info -->"
FIGURE_KEYS = ("name", "title", "caption", "image")   # of each figure in lecture.json; "numbers" is optional
FIGURES_URI = "lecture/figures"     # where the PNGs land in the site
RUN_LECTURE = "run `cnnkit lecture --out build/lecture` (or `make docs`)"

# The subpackages in DESIGN.md's order (data flows down the list); any other public one follows,
# alphabetically. cli/ is documented by the command-line reference, weights/ holds no code.
API_ORDER = ("ops", "layers", "models", "data", "train", "runs", "analysis", "explain", "attacks",
             "apps", "viz", "reports", "serve", "interop", "lecture")
API_SKIP = ("cli", "weights")
API_NAV_ENTRY = "reference/api/index.md"



@dataclass(frozen=True)
class ApiPage:
    """A generated page of the Python API reference."""

    uri: str        # reference/api/PKG.md
    title: str      # cnnkit.PKG
    summary: str    # the package docstring's first sentence
    content: str    # Markdown with mkdocstrings' ::: blocks


_state: dict[str, Any] = {}        # what on_config found, for the later events of the same build


# ---------------------------------------------------------------------------------------------
# MkDocs events

def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Read the lecture's output and the package tree once; put the API pages into the nav."""
    root = Path(config.config_file_path).resolve().parent
    folder = Path(os.environ.get("CNNKIT_LECTURE_DIR") or root / "build" / "lecture")
    _state["lecture_dir"] = folder
    _state["lecture"] = read_lecture(folder)
    _state["partial"] = os.environ.get("CNNKIT_DOCS_PARTIAL") == "1"
    _state["api"] = api_pages(root / "src")
    config.nav = _with_api_section(config.nav, _state["api"])
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the lecture's PNGs and the generated reference pages to the site."""
    for figure in _all_figures(_state["lecture"]):
        source = _state["lecture_dir"] / figure["image"]
        files.append(File.generated(config, f"{FIGURES_URI}/{figure['image']}", abs_src_path=str(source)))
    files.append(File.generated(config, "reference/cli.md", content=cli_reference()))
    files.append(File.generated(config, API_NAV_ENTRY, content=api_index(_state["api"])))
    for page in _state["api"]:
        files.append(File.generated(config, page.uri, content=page.content))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Replace the lecture markers of a page with the figures of their part."""
    lecture = _state["lecture"]
    if INFO_MARKER in markdown:
        markdown = markdown.replace(INFO_MARKER, lecture_info(lecture))

    def figures(match: re.Match[str]) -> str:
        return part_markdown(lecture, match.group(1), page_uri=page.file.src_uri, partial=_state["partial"])

    return MARKER.sub(figures, markdown)


# ---------------------------------------------------------------------------------------------
# The lecture's figures

def read_lecture(folder: Path) -> dict[str, Any]:
    """``folder/lecture.json``, checked: every part known, every figure's PNG present."""
    index = folder / "lecture.json"
    if not index.is_file():
        raise PluginError(f"no lecture figures at {index}: {RUN_LECTURE}, "
                          "or point CNNKIT_LECTURE_DIR at a folder that `cnnkit lecture --out` wrote")
    try:
        lecture = json.loads(index.read_text(encoding="utf-8"))
    except ValueError as err:
        raise PluginError(f"{index} is not JSON ({err}); {RUN_LECTURE}") from None
    try:
        names = [part["name"] for part in lecture["parts"]]
        figures = _all_figures(lecture)
        missing = [key for figure in figures for key in FIGURE_KEYS if key not in figure]
    except (KeyError, TypeError) as err:
        missing = [str(err)]
    if missing:
        raise PluginError(f"{index} is not what `cnnkit lecture` writes (missing {missing[0]}); {RUN_LECTURE}")
    unknown = sorted(set(names) - set(LECTURE_PARTS))
    if unknown:
        raise PluginError(f"{index}: unknown lecture parts {unknown}; the pages know {list(LECTURE_PARTS)}")
    for figure in figures:
        image = figure["image"]
        if not isinstance(image, str) or Path(image).name != image or not image.endswith(".png"):
            raise PluginError(f"{index}: figure image {image!r} is not a PNG file name inside the folder")
        if not (folder / image).is_file():
            raise PluginError(f"{index} lists {image}, which is not in {folder}; {RUN_LECTURE}")
    return lecture


def part_markdown(lecture: dict[str, Any], name: str, *, page_uri: str, partial: bool) -> str:
    """The figures of lecture part ``name`` as Markdown for the page at ``page_uri``."""
    if name not in LECTURE_PARTS:
        raise PluginError(f"{page_uri}: no lecture part {name!r}; the parts are {', '.join(LECTURE_PARTS)}")
    part = next((p for p in lecture["parts"] if p["name"] == name), None)
    figures = part["figures"] if part else []
    if not figures:
        if not partial:
            raise PluginError(f"{page_uri}: the lecture folder has no figures of part {name!r}; {RUN_LECTURE} "
                              "(CNNKIT_DOCS_PARTIAL=1 builds the site without them)")
        return ('!!! warning "Not generated: run cnnkit lecture"\n\n'
                "    The figures of this part are not in the lecture folder this site was built from. "
                "Run `cnnkit lecture --out build/lecture` and build the site again (`make docs`).\n")
    prefix = "../" * page_uri.count("/") + FIGURES_URI
    return "\n".join(figure_markdown(figure, prefix) for figure in figures)


def figure_markdown(figure: dict[str, Any], prefix: str) -> str:
    """One figure: its title as a heading (anchor = its name), the image, the caption, its numbers."""
    title = _escape_markdown(str(figure["title"]))
    lines = [f"### {title} {{ #{figure['name']} }}", "",
             f"![{title}]({prefix}/{figure['image']}){{ .lecture-figure loading=lazy }}", "",
             f'<p class="lecture-caption">{html.escape(str(figure["caption"]))}</p>', ""]
    numbers = figure.get("numbers")
    if numbers:
        text = json.dumps(numbers, indent=2, ensure_ascii=False)
        lines += ['??? note "The figure\'s numbers"', "", "    ```json",
                  *(f"    {line}" for line in text.splitlines()), "    ```", ""]
    return "\n".join(lines)


def lecture_info(lecture: dict[str, Any]) -> str:
    """One line: which cnnkit made the figures, where and how fast."""
    commit = lecture.get("commit")
    made = f"cnnkit {lecture.get('cnnkit_version', '?')}" + (f" (commit `{str(commit)[:10]}`)" if commit else "")
    seconds = lecture.get("seconds")
    took = f" in {float(seconds):.0f} s" if isinstance(seconds, (int, float)) else ""
    where = f" on {lecture['cpu']}" if lecture.get("cpu") else ""
    count = len(_all_figures(lecture))
    return f"The {count} figures of this site were made by {made}{where}{took}."


def _all_figures(lecture: dict[str, Any]) -> list[dict[str, Any]]:
    return [figure for part in lecture["parts"] for figure in part["figures"]]


def _escape_markdown(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>#{}|])", r"\\\1", text)


# ---------------------------------------------------------------------------------------------
# The command-line reference

def cli_reference() -> str:
    """Markdown for every cnnkit command: its path as a heading, its --help text below."""
    import typer.main

    from cnnkit.cli.main import app

    lines = ["# Command line", "",
             "Every `cnnkit` command with the help it prints (`cnnkit COMMAND --help`). "
             "This page is generated from the commands themselves each time the site is built.", ""]
    for path, command, ctx in _walk(typer.main.get_command(app), ["cnnkit"], None):
        depth = min(len(path), 3)          # cnnkit: h1 is the page title; commands h2, sub-commands h3
        if len(path) > 1:
            lines += [f"{'#' * depth} {' '.join(path)}", ""]
        else:
            lines += ["## cnnkit", ""]
        if command.hidden:
            lines += ["*Not listed by its group's `--help`: the group runs it when given no sub-command.*", ""]
        lines += ["```text", ctx.get_help().rstrip(), "```", ""]
    return "\n".join(lines)


def _walk(command: Any, path: list[str], parent: Any):  # type: ignore[no-untyped-def]
    """(path, command, its context) for ``command`` and, depth first, every command under it."""
    ctx = command.context_class(command, info_name=path[-1], parent=parent,
                                terminal_width=80, max_content_width=80)
    yield path, command, ctx
    if hasattr(command, "commands"):
        for name in command.list_commands(ctx):
            yield from _walk(command.get_command(ctx, name), [*path, name], ctx)


# ---------------------------------------------------------------------------------------------
# The Python API reference

def api_pages(src: Path) -> list[ApiPage]:
    """One page for cnnkit's own modules, then one per public subpackage of cnnkit under ``src``."""
    import griffe

    package = griffe.load("cnnkit", search_paths=[str(src)], resolve_aliases=False)
    public = [name for name, module in package.modules.items()
              if _is_package(module) and not name.startswith("_") and name not in API_SKIP]
    ordered = [name for name in API_ORDER if name in public] + sorted(set(public) - set(API_ORDER))
    pages = [_core_page(package)]
    for name in ordered:
        module = package.modules[name]
        blocks = _module_blocks(module, top=True)
        pages.append(ApiPage(f"reference/api/{name}.md", module.path, _first_sentence(module),
                             "\n".join([f"# `{module.path}`", "", *blocks])))
    return pages


def api_index(pages: list[ApiPage]) -> str:
    """The API section's first page: one line per package page, its docstring's first sentence."""
    lines = ["# Python API", "",
             "Generated from the docstrings each time the site is built: one page per subpackage, "
             "every public module of it in turn. Images enter every function as pixels in [0, 1], "
             "tensors are (N, C, H, W).", ""]
    lines += [f"- [`{page.title}`]({Path(page.uri).name}): {page.summary}" for page in pages]
    return "\n".join(lines) + "\n"


def _core_page(package: Any) -> ApiPage:
    """The ground floor: cnnkit's own public modules (errors, modes, device, ...)."""
    modules = sorted((m for name, m in package.modules.items() if not _is_package(m) and not name.startswith("_")),
                     key=lambda m: m.path)
    summary = ("the modules every package may import: errors, eval mode and devices, atomic writes, "
               "reading files cnnkit did not write, the progress bar")
    lines = ["# `cnnkit`", "", f"The {summary}.", ""]
    lines += [line for module in modules for line in (f"::: {module.path}", "")]
    return ApiPage("reference/api/cnnkit.md", "cnnkit", summary[0].upper() + summary[1:] + ".", "\n".join(lines))


def _module_blocks(module: Any, *, top: bool) -> list[str]:
    """``:::`` blocks for a package (members re-exported from its private modules only) and,
    depth first, every public module and subpackage inside it."""
    reexported = [name for name, member in module.members.items()
                  if member.is_alias and not name.startswith("_") and _is_private(member.target_path)]
    options = [f"      members: [{', '.join(reexported)}]" if reexported else "      members: false"]
    if top:  # the page's title names the package; its re-exports sit at the level of module members
        options += ["      show_root_heading: false", "      heading_level: 3"]
    lines = [f"::: {module.path}", "    options:", *options, ""]
    for name, child in sorted(module.modules.items()):
        if name.startswith("_"):
            continue
        if _is_package(child):
            lines += _module_blocks(child, top=False)
        else:
            lines += [f"::: {child.path}", ""]
    return lines


def _is_package(module: Any) -> bool:
    return module.is_package or module.is_subpackage


def _is_private(path: str) -> bool:
    return any(part.startswith("_") for part in path.split("."))


def _first_sentence(obj: Any) -> str:
    """The first sentence of a docstring's first paragraph, on one line."""
    if not obj.docstring:
        return ""
    paragraph = " ".join(obj.docstring.value.strip().split("\n\n", 1)[0].split())
    return re.split(r"(?<=\.)\s", paragraph, maxsplit=1)[0]


def _with_api_section(nav: Any, pages: list[ApiPage]) -> Any:
    """The nav with its ``reference/api/index.md`` entry turned into a section of package pages."""
    section = [API_NAV_ENTRY] + [{page.title: page.uri} for page in pages]
    if isinstance(nav, list):
        return [_with_api_section(item, pages) for item in nav]
    if isinstance(nav, dict):
        return {title: section if value == API_NAV_ENTRY else _with_api_section(value, pages)
                for title, value in nav.items()}
    return nav
