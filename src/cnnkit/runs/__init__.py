"""Everything that uses a finished run: the run directory as a format, opening a model, its data,
evaluation and prediction.

A run directory (``cnnkit train`` or ``cnnkit import-weights`` writes one) holds what rebuilds
its model and its data: model.json, model.safetensors, config.json. This package reads and
writes that format and never imports the trainer, so ``cnnkit eval``, ``predict``, ``explain``
and ``attack`` start without it. Names are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnkit._lazy import lazy_exports

if TYPE_CHECKING:
    from cnnkit.runs.datasets import dataset_for, sample_images
    from cnnkit.runs.evaluation import EvalReport, Evaluation, evaluate, evaluate_run_dir, for_each_batch
    from cnnkit.runs.format import ModelInfo, Run, load_run, write_model
    from cnnkit.runs.lock import RunInUseError, run_lock
    from cnnkit.runs.metrics import read_metrics
    from cnnkit.runs.opening import check_images, load_images, open_model
    from cnnkit.runs.prediction import Prediction, predict_files

_HOMES = {
    "ModelInfo": "cnnkit.runs.format",
    "Run": "cnnkit.runs.format",
    "load_run": "cnnkit.runs.format",
    "write_model": "cnnkit.runs.format",
    "read_metrics": "cnnkit.runs.metrics",
    "run_lock": "cnnkit.runs.lock",
    "RunInUseError": "cnnkit.runs.lock",
    "open_model": "cnnkit.runs.opening",
    "check_images": "cnnkit.runs.opening",
    "load_images": "cnnkit.runs.opening",
    "dataset_for": "cnnkit.runs.datasets",
    "sample_images": "cnnkit.runs.datasets",
    "Evaluation": "cnnkit.runs.evaluation",
    "EvalReport": "cnnkit.runs.evaluation",
    "evaluate": "cnnkit.runs.evaluation",
    "evaluate_run_dir": "cnnkit.runs.evaluation",
    "for_each_batch": "cnnkit.runs.evaluation",
    "Prediction": "cnnkit.runs.prediction",
    "predict_files": "cnnkit.runs.prediction",
}

__all__ = sorted(_HOMES)

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
