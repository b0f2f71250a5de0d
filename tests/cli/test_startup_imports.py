"""Start-up: each command imports what it needs and nothing heavier (module sets, never timings).

Every command runs in a fresh interpreter, which then reports ``sys.modules``: a light command
that starts importing the trainer, matplotlib or torch._dynamo (pulled in by torch's Python
reference kernels on the meta device) waits seconds for nothing on an idle machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

_REPORT = """
import json, sys
from cnnkit.cli.main import main
codes = []
for args in json.loads(sys.argv[2]):
    try:
        main(args)
        codes.append(0)
    except SystemExit as exit_:
        codes.append(exit_.code if isinstance(exit_.code, int) else 1)
with open(sys.argv[1], "w") as file:
    json.dump({"codes": codes, "modules": sorted(sys.modules)}, file)
"""

# Not torch.distributed: `import torch` imports it (torch.utils.data does), so no command can avoid it.
_TRAINER = ["cnnkit.train.fitting", "cnnkit.train.trainer", "cnnkit.train.report", "cnnkit.train.distributed", "cnnkit.train.optim"]
_DYNAMO = ["torch._dynamo", "torch._inductor", "sympy"]
_PLOTTING = ["matplotlib", "cnnkit.viz"]


def _imports(tmp_path: Path, *commands: list[str]) -> tuple[list[int], set[str]]:
    """Exit codes of ``commands`` run one after another in one fresh interpreter, and what it imported."""
    out = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", _REPORT, str(out), json.dumps(list(commands))],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    return report["codes"], set(report["modules"])


# train's help states TrainConfig's defaults, so every command loads the config module: plain Python
_LIGHT = {"cnnkit.train", "cnnkit.train.config"}


def _heavy(loaded: list[str]) -> list[str]:
    return [m for m in loaded if m not in _LIGHT]


def _loaded(modules: set[str], names: list[str]) -> list[str]:
    """Which of ``names`` (packages count with their submodules) were imported."""
    return sorted(m for m in modules for name in names if m == name or m.startswith(f"{name}."))


def test_help_of_every_command_imports_no_torch(tmp_path: Path) -> None:
    commands = [["--help"], ["train", "--help"], ["eval", "--help"], ["predict", "--help"], ["report", "--help"],
                ["export", "--help"], ["models", "--help"], ["summary", "--help"], ["rf", "--help"],
                ["import-weights", "--help"], ["ops", "demo", "--help"], ["explain", "--help"],
                ["explain", "saliency", "--help"], ["attack", "--help"]]
    codes, modules = _imports(tmp_path, *commands)
    assert codes == [0] * len(commands)
    assert _heavy(_loaded(modules, ["torch", "numpy", "PIL", *_PLOTTING, "cnnkit.train", "cnnkit.models"])) == []


def test_models_builds_every_model_without_the_trainer_or_dynamo(tmp_path: Path) -> None:
    # All families: CoAtNet's position index, VGG's uninitialised fc layers and the He initialisation
    # of ResNet, VGG and GoogLeNet each once ran a Python meta kernel that imported torch._dynamo or sympy.
    codes, modules = _imports(tmp_path, ["models"])
    assert codes == [0]
    assert "cnnkit.models.coatnet" in modules
    assert _heavy(_loaded(modules, ["cnnkit.train", "cnnkit.data", *_DYNAMO, *_PLOTTING])) == []


@pytest.mark.parametrize("command", ["summary", "rf"])
def test_analysis_imports_no_trainer(tmp_path: Path, command: str) -> None:
    # torch._dynamo stays: FlopCounterMode and torch's meta kernels of conv and linear import it.
    codes, modules = _imports(tmp_path, [command, "lenet5"])
    assert codes == [0]
    assert _heavy(_loaded(modules, ["cnnkit.train", "cnnkit.data", *_PLOTTING])) == []


def test_eval_of_a_missing_run_imports_no_trainer(tmp_path: Path) -> None:
    codes, modules = _imports(tmp_path, ["eval", str(tmp_path / "no-such-run")],
                              ["predict", str(tmp_path / "no-such-run"), str(tmp_path / "x.png")])
    assert codes == [2, 2]
    assert _loaded(modules, [*_TRAINER, "cnnkit.models", *_DYNAMO, *_PLOTTING]) == []
