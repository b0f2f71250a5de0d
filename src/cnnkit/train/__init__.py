"""Training: the config, the loop, evaluation, and the run directory it writes.

The names below are imported on first use (PEP 562), not with the package: ``cnnkit eval``,
``predict``, ``report`` and ``export`` import ``cnnkit.train.<module>`` and should not wait for
the training loop, which pulls in matplotlib (the report), torch.distributed, the optimisers
and the attacks' steps.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnnkit.errors import TrainingInterrupted
    from cnnkit.train.config import TrainConfig
    from cnnkit.train.evaluation import Evaluation, evaluate
    from cnnkit.train.fitting import FitResult, fit, resume
    from cnnkit.train.task import ClassificationTask, Task
    from cnnkit.train.rundir import ModelInfo, Run, load_run, read_metrics

__all__ = ["TrainConfig", "fit", "resume", "FitResult", "Task", "ClassificationTask", "TrainingInterrupted", "evaluate", "Evaluation", "load_run", "Run", "ModelInfo", "read_metrics"]

_HOMES = {
    "TrainConfig": "cnnkit.train.config",
    "fit": "cnnkit.train.fitting",
    "resume": "cnnkit.train.fitting",
    "FitResult": "cnnkit.train.fitting",
    "Task": "cnnkit.train.task",
    "ClassificationTask": "cnnkit.train.task",
    "TrainingInterrupted": "cnnkit.errors",  # defined there so that the CLI catches it without torch
    "evaluate": "cnnkit.train.evaluation",
    "Evaluation": "cnnkit.train.evaluation",
    "load_run": "cnnkit.train.rundir",
    "Run": "cnnkit.train.rundir",
    "ModelInfo": "cnnkit.train.rundir",
    "read_metrics": "cnnkit.train.rundir",
}


def __getattr__(name: str) -> Any:
    """A public name, or a submodule (``cnnkit.train.trainer``), imported when first asked for."""
    home = _HOMES.get(name)
    if home is None:
        if name.startswith("__"):  # probes such as __wrapped__ are no submodules
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        try:
            return import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(import_module(home), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
