"""Tests for the cnnkit.viz package: its public names and what it imports."""

from __future__ import annotations

import subprocess
import sys

import cnnkit.viz


def test_all_names_exist():
    for name in cnnkit.viz.__all__:
        assert hasattr(cnnkit.viz, name), name


def test_viz_imports_no_torch_and_touches_no_pyplot_state(tmp_path):
    code = (
        "import sys, numpy as np, cnnkit.viz; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        f"cnnkit.viz.plot_filters(np.ones((2, 1, 3, 3)), {str(tmp_path / 'f.png')!r}); "
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
