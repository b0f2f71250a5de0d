"""Built-in training recipes: named sets of TrainConfig values, overridable by any flag.

``fast`` is cnnkit's fastest route to a good Fashion-MNIST accuracy on a CPU: FastNet
(BatchNorm), a one-cycle schedule (Smith & Topin, 2019), label smoothing, batch-level
random crops and flips, and flip test-time augmentation, in bfloat16 where the CPU has it.
Its epochs are the budget: a one-cycle schedule ends at its best accuracy, so
``--recipe fast --epochs 4`` is the 30-second run and the default the 3-minute one.
Measured times to accuracy are in BENCHMARKS.md (benchmarks/time_to_accuracy.py).
"""

from __future__ import annotations

import difflib
from typing import Any

from cnnkit.errors import ConfigError

__all__ = ["RECIPES", "apply_recipe"]

RECIPES: dict[str, dict[str, Any]] = {
    "lenet5": {
        "model": "lenet5",
        "data": "fashion-mnist",
        "epochs": 8,
        "batch_size": 128,
        "optimizer": "sgd",
        "lr": 0.05,
        "schedule": "onecycle",
    },
    "fast": {
        "model": "fastnet",
        "data": "fashion-mnist",
        "epochs": 25,
        "batch_size": 256,
        "optimizer": "sgd",
        "lr": 0.2,
        "momentum": 0.9,
        "nesterov": True,
        "weight_decay": 5e-4,
        "schedule": "onecycle",
        "label_smoothing": 0.1,
        "augment": True,
        "tta": True,
        "eval_every": 5,
    },
}


def apply_recipe(name: str) -> dict[str, Any]:
    """The TrainConfig values of recipe ``name`` (with ``recipe`` set to the name)."""
    if name not in RECIPES:
        close = difflib.get_close_matches(name, RECIPES, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"no recipe {name!r}; {hint}recipes: {', '.join(sorted(RECIPES))}")
    return {**RECIPES[name], "recipe": name}
