"""The tutorials run as a reader runs them: each page's executed blocks, in order, in a fresh interpreter.

A tutorial (docs/tutorials/*.md) is a sequence of ```python exec="on" session="..."``` blocks that
markdown-exec runs while the site builds, each block seeing what the earlier ones of its session
defined. Here the blocks of one page are joined in that order and run by ``sys.executable -c`` in an
empty folder, so a page that relies on a name it never defines, on the repository's folder or on
another page's session fails here first (the site build runs them too: tests/docs/test_site.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[2] / "docs" / "tutorials"
EXECUTED = re.compile(r"^```python ([^\n]*\bexec=\"(?:on|true|1)\"[^\n]*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
SESSION = re.compile(r'\bsession="([^"]+)"')


def executed_blocks(page: Path) -> list[tuple[str, str]]:
    """(session, code) of every block markdown-exec runs on ``page``, in page order."""
    found = []
    for match in EXECUTED.finditer(page.read_text(encoding="utf-8")):
        session = SESSION.search(match.group(1))
        found.append((session.group(1) if session else "", match.group(2)))
    return found


PAGES = sorted(p for p in TUTORIALS.glob("*.md") if executed_blocks(p))


def test_every_tutorial_is_found() -> None:
    assert {p.stem for p in PAGES} >= {"train", "explain", "attack"}


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_tutorial_runs(page: Path, tmp_path: Path) -> None:
    blocks = executed_blocks(page)
    sessions = {session for session, _ in blocks}
    # one session per page: the site runs every page in the same process, so a session shared
    # between pages would make a page depend on another page having run before it
    assert len(sessions) == 1 and "" not in sessions, f"{page.name}: blocks must share one named session, got {sessions}"
    code = "\n\n".join(code for _, code in blocks)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{page.name} failed (exit {done.returncode}):\n--- stderr ---\n{done.stderr}"
    assert done.stdout.strip(), f"{page.name} printed nothing: its page would show no output"
    assert not any(tmp_path.iterdir()), f"{page.name} wrote into the current folder: {sorted(tmp_path.iterdir())}"
