"""Training: the config, the Task protocol, and the one loop that trains any Task into a run
directory (written through ``cnnkit.runs``).

The names below are imported on first use (PEP 562), not with the package: ``cnnkit train
--help`` reads ``cnnkit.train.config`` and should not wait for the training loop, which pulls
in matplotlib (the report), torch.distributed, the optimisers and the attacks' steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnkit._lazy import lazy_exports

if TYPE_CHECKING:
    from cnnkit.errors import TrainingInterrupted
    from cnnkit.train.config import TrainConfig
    from cnnkit.train.fitting import FitResult, fit, resume
    from cnnkit.train.task import ClassificationTask, Task

_HOMES = {
    "TrainConfig": "cnnkit.train.config",
    "fit": "cnnkit.train.fitting",
    "resume": "cnnkit.train.fitting",
    "FitResult": "cnnkit.train.fitting",
    "Task": "cnnkit.train.task",
    "ClassificationTask": "cnnkit.train.task",
    "TrainingInterrupted": "cnnkit.errors",  # defined there so that the CLI catches it without torch
}

__all__ = list(_HOMES)

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
