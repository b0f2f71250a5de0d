"""The documentation site as `make docs` builds it: strict, offline, with every generated page.

One build per session, into a temporary folder, from the lecture figures the real command writes
(`cnnkit lecture --only sobel,borders`: two figures of one part, the others marked "not generated"
with CNNKIT_DOCS_PARTIAL=1). The tutorials execute during this build, as they do in `make docs`.
"""

from __future__ import annotations

import html
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

ROOT = Path(__file__).resolve().parents[2]
ASSET = re.compile(r"<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)=[\"']?(?:https?:)?//", re.IGNORECASE)


def _command_paths() -> list[str]:
    """'cnnkit train', 'cnnkit explain saliency', ...: every command under typer's root, hidden ones too."""
    from cnnkit.cli.main import app

    paths = []

    def walk(command, path: str) -> None:  # type: ignore[no-untyped-def]
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "cnnkit")
    return paths


@pytest.fixture(scope="module")
def lecture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lecture")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "cnnkit", "lecture", "--only", "sobel,borders", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"cnnkit lecture failed:\n{done.stderr}"
    return out


@pytest.fixture(scope="module")
def site(lecture_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    env = {**os.environ, "CNNKIT_LECTURE_DIR": str(lecture_dir), "CNNKIT_DOCS_PARTIAL": "1",
           "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
                          cwd=out.parent, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-6000:]}"
    assert "WARNING" not in done.stderr, done.stderr
    return out


def _text(page: Path) -> str:
    """The page's visible text, tags removed and entities decoded, whitespace collapsed."""
    raw = re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8"))
    return " ".join(html.unescape(raw).split())


def test_cli_reference_lists_every_command(site: Path) -> None:
    text = _text(site / "reference" / "cli.html")
    headings = {" ".join(html.unescape(re.sub(r"<[^>]+>", "", h)).split()).rstrip("¶").strip()
                for h in re.findall(r"<h[23][^>]*>(.*?)</h[23]>", (site / "reference" / "cli.html").read_text())}
    paths = _command_paths()
    assert {"cnnkit explain saliency", "cnnkit train"} <= set(paths)
    missing = [path for path in paths if path not in headings]
    assert not missing, f"commands without a section: {missing}"
    assert "Usage: cnnkit explain saliency [OPTIONS]" in text  # the command's own --help


def test_api_reference_has_the_docstrings(site: Path) -> None:
    from cnnkit.ops import conv

    summary = inspect.getdoc(conv.conv2d).splitlines()[0]
    assert summary in _text(site / "reference" / "api" / "ops.html")
    assert "create_model" in _text(site / "reference" / "api" / "models.html")  # re-exported from _registry
    pages = {p.stem for p in (site / "reference" / "api").glob("*.html")}
    assert {"ops", "layers", "models", "train", "runs", "explain", "attacks", "viz", "serve"} <= pages


def test_lecture_page_shows_the_sobel_figure(site: Path, lecture_dir: Path) -> None:
    page = site / "lecture" / "convolution.html"
    images = re.findall(r"<img [^>]*src=\"([^\"]+)\"", page.read_text(encoding="utf-8"))
    sobel = [src for src in images if src.endswith("sobel.png")]
    assert sobel, f"no sobel figure among {images}"
    assert (page.parent / sobel[0]).read_bytes() == (lecture_dir / "sobel.png").read_bytes()
    # a part with no figures yet says so, visibly
    assert "Not generated: run cnnkit lecture" in _text(site / "lecture" / "adversarial.html")


def test_tutorials_show_their_output(site: Path) -> None:
    train = _text(site / "tutorials" / "train.html")
    assert re.search(r"test accuracy: \d+\.\d% after 4 epochs", train)
    assert "21,386 parameters" in train  # the summary table of LeNet-5 at 8x8
    explain = (site / "tutorials" / "explain.html").read_text(encoding="utf-8")
    assert re.search(r"<img [^>]*src=\"data:image/png;base64,", explain)
    assert re.search(r"completeness error of Integrated Gradients: mean \d", _text(site / "tutorials" / "explain.html"))
    attack = _text(site / "tutorials" / "attack.html")
    assert re.search(r"FGSM( \d+\.\d%){4}", attack) and re.search(r"PGD( \d+\.\d%){4}", attack)


def test_site_loads_nothing_from_the_network(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    remote = {str(p.relative_to(site)): ASSET.findall(p.read_text(encoding="utf-8")) for p in pages}
    assert not {page: found for page, found in remote.items() if found}
    for sheet in site.rglob("*.css"):
        assert not re.search(r"(@import|url\()\s*[\"']?https?:", sheet.read_text(encoding="utf-8")), sheet
