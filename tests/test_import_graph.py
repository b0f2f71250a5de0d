"""The import graph of src/cnnkit: arrows point down DESIGN.md's package list, with no cycle.

Every ``import cnnkit.X`` in every module (top level or inside a function) is an arrow from the
importing package to X. The light libraries must also stay light when imported on their own.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cnnkit"

# DESIGN.md's order: a package may import only those before it. The ground floor first. Two changes:
# DESIGN lists runs after train, but train writes its runs through runs (and runs never imports
# train), so runs comes first here; reports (the pages explain and attack write, the issue's
# "reports" stage) stands after viz, whose figures it gathers.
ORDER = ["errors", "_lazy", "atomic", "files", "schema", "progress", "modes", "device", "ops", "layers", "models", "data",
         "runs", "train", "analysis", "explain", "attacks", "apps", "weights", "viz", "reports", "serve", "interop", "lecture", "cli",
         "__main__"]
# Arrows against the order that stay, each for a reason (see docs/architecture.md):
ALLOWED_UPWARD = {
    ("train", "attacks"),  # adversarial training takes the attacks' FGSM and PGD steps, which import only the ground floor
    ("train", "viz"),      # the training report is drawn by viz, which imports no torch and nothing of cnnkit's
    ("runs", "viz"),       # so is the confusion matrix `cnnkit eval` writes beside the run
    ("apps", "viz"),       # and each application's run report, as train's is
}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "cnnkit"


def _arrows() -> dict[tuple[str, str], list[str]]:
    arrows: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in SRC.rglob("*.py"):
        source = _package(".".join(("cnnkit", *path.relative_to(SRC).with_suffix("").parts)))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                target = _package(name) if name.startswith("cnnkit.") else None
                if target and target != source and source != "cnnkit":
                    arrows[(source, target)].append(str(path.relative_to(SRC)))
    return arrows


def test_every_package_is_in_the_design_order() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    packages |= {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    assert packages <= set(ORDER), packages - set(ORDER)


def test_arrows_point_down_the_design_order() -> None:
    upward = {arrow: files for arrow, files in _arrows().items()
              if ORDER.index(arrow[1]) > ORDER.index(arrow[0]) and arrow not in ALLOWED_UPWARD}
    assert upward == {}


def test_the_package_graph_has_no_cycle() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in _arrows():
        graph[source].add(target)
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            assert state.get(nxt) != 1, " -> ".join([*path, node, nxt])
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in list(graph):
        if node not in state:
            visit(node, [])


@pytest.mark.parametrize("package", ["cnnkit.attacks", "cnnkit.explain", "cnnkit.models", "cnnkit.analysis",
                                     "cnnkit.runs.evaluation"])
def test_a_library_loads_neither_the_trainer_nor_data_nor_plotting(package: str) -> None:
    code = f"import sys, {package}; print('\\n'.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    heavy = ("cnnkit.train", "cnnkit.data", "cnnkit.viz", "matplotlib", "rich")
    assert [m for m in done.stdout.split() if m.startswith(heavy)] == []


def test_runs_never_loads_the_trainer() -> None:
    code = "import sys, cnnkit.runs as r; [getattr(r, n) for n in r.__all__]; print('\\n'.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [m for m in done.stdout.split() if m.startswith("cnnkit.train")] == []
