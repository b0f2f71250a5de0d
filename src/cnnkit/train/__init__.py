"""Training: the config, the loop, evaluation, and the run directory it writes."""

from cnnkit.train.config import TrainConfig
from cnnkit.train.evaluate import Evaluation, evaluate
from cnnkit.train.loop import FitResult, TrainingInterrupted, fit, resume
from cnnkit.train.rundir import ModelInfo, Run, load_run, read_metrics

__all__ = ["TrainConfig", "fit", "resume", "FitResult", "TrainingInterrupted", "evaluate", "Evaluation", "load_run", "Run", "ModelInfo", "read_metrics"]
