"""The README as a newcomer uses it: every Python snippet runs as written, every command exists.

Each ```python block runs in a fresh interpreter (``sys.executable -c``) in its own empty
folder, so a snippet that uses a name it never defines, or a file only this checkout has, fails.
The bash blocks are checked lightly: each ``cnnkit COMMAND`` they name is a real command.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _blocks(language: str) -> list[tuple[str, str]]:
    """(heading the block sits under, code) for every fenced block of ``language``, in order."""
    text = README.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        if match.group(1) == language:
            headings = re.findall(r"^#+ (.+)$", text[: match.start()], re.MULTILINE)
            found.append((headings[-1] if headings else "top", match.group(2)))
    return found


PYTHON_BLOCKS = _blocks("python")
BASH_BLOCKS = _blocks("bash")


def test_readme_has_python_and_bash_blocks() -> None:
    assert len(PYTHON_BLOCKS) >= 5 and len(BASH_BLOCKS) >= 10  # the extraction still finds them


@pytest.mark.parametrize(
    "code", [code for _, code in PYTHON_BLOCKS],
    ids=[f"{i}-{re.sub(r'[^a-z0-9]+', '-', heading.lower()).strip('-')}" for i, (heading, _) in enumerate(PYTHON_BLOCKS)],
)
def test_python_snippet_runs_as_written(code: str, tmp_path: Path) -> None:
    # One thread: the snippets' runs are tiny, and two threads fighting a parallel test run for
    # two cores made an 8x8-digits epoch take seconds instead of 0.1 s.
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"snippet failed (exit {done.returncode}):\n{code}\n--- stderr ---\n{done.stderr}"


def test_readme_uses_the_activated_venv() -> None:
    text = README.read_text(encoding="utf-8")
    assert ".venv/bin/cnnkit" not in text  # one way to call it: bare `cnnkit` after activating
    assert ". .venv/bin/activate" in text or "source .venv/bin/activate" in text


def _commands() -> dict[str, set[str]]:
    """cnnkit's commands, each with its subcommands (empty for a plain command)."""
    from cnnkit.cli.main import app

    root = typer.main.get_command(app)
    return {name: set(getattr(command, "commands", {})) for name, command in root.commands.items()}


def test_bash_blocks_name_real_commands() -> None:
    commands = _commands()
    named = 0
    for heading, code in BASH_BLOCKS:
        for line in code.splitlines():
            line = line.split("#", 1)[0]
            for match in re.finditer(r"\bcnnkit\s+([a-z][\w-]*)(?:\s+([a-z][\w-]*))?", line):
                command, sub = match.groups()
                named += 1
                assert command in commands, f"README ({heading}): 'cnnkit {command}' is no command: {line.strip()}"
                if commands[command]:
                    assert sub in commands[command], (
                        f"README ({heading}): 'cnnkit {command} {sub}' is no command; "
                        f"'cnnkit {command}' has {', '.join(sorted(commands[command]))}")
    assert named >= 30  # the README's command lines were all seen
