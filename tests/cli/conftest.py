"""The CLI as a test calls it: run_cli(args, capsys or capfd) -> (exit code, stdout, stderr)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cnnkit.cli.main import main


@pytest.fixture
def run_cli() -> Callable[..., tuple[int, str, str]]:
    def run(args: list[str], capture) -> tuple[int, str, str]:
        try:
            main(args)
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        captured = capture.readouterr()
        return code, captured.out, captured.err

    return run
