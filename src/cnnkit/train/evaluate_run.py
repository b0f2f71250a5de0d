"""``cnnkit eval`` as a library call: evaluate a run directory on a dataset split and write
its confusion matrix (PNG and JSON) beside the run's other files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnkit.atomic import atomic_write_text
from cnnkit.errors import ConfigError, OutputError
from cnnkit.train.device import resolve_device
from cnnkit.train.evaluation import evaluate
from cnnkit.train.inference import dataset_for
from cnnkit.train.rundir import load_run
from cnnkit.train.runlock import lock_if_inside

__all__ = ["EvalReport", "evaluate_run_dir"]


@dataclass(frozen=True)
class EvalReport:
    """Accuracy, loss and per-class precision/recall of a run on one dataset split."""

    run: str
    dataset: str
    split: str
    images: int
    accuracy: float
    loss: float
    per_class: list[dict[str, Any]]
    confusion: list[list[int]]
    confusion_png: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def evaluate_run_dir(
    run_dir: str | Path,
    *,
    data: str | None = None,
    data_dir: str | Path | None = None,
    split: str = "test",
    tta: bool = False,
    out: str | Path | None = None,
    device: str = "auto",
) -> EvalReport:
    """Evaluate the model of ``run_dir`` and write ``eval-<data>-<split>-confusion.png/.json``."""
    torch_device = resolve_device(device)
    run = load_run(run_dir, device=torch_device)
    dataset = dataset_for(run, data=data, data_dir=data_dir, split=split)
    dataset_name = data or run.info.dataset
    spec = dataset.spec
    if tta and not spec.hflip:
        raise ConfigError(f"--tta flips images, which changes the class in {dataset_name}; drop --tta")
    out_dir = Path(out) if out is not None else run.path
    with lock_if_inside(run.path, out_dir, "cnnkit eval"):
        return _evaluate_into(run, dataset, dataset_name, split, out_dir, tta=tta, device=torch_device)


def _evaluate_into(run, dataset, dataset_name: str, split: str, out_dir: Path, *, tta: bool, device) -> EvalReport:
    from cnnkit.viz.confusion import plot_confusion_matrix

    spec = dataset.spec
    result = evaluate(run.model, dataset, device=device, tta=tta)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create {out_dir} ({err.strerror}); choose another --out") from None
    stem = f"eval-{dataset_name}-{split}"
    png = plot_confusion_matrix(result.confusion.numpy(), list(spec.classes), out_dir / f"{stem}-confusion.png")
    per_class = [
        {"class": c, "precision": round(p, 6), "recall": round(r, 6), "support": int(s)}
        for c, p, r, s in zip(spec.classes, result.precision.tolist(), result.recall.tolist(), result.support.tolist())
    ]
    report = EvalReport(
        run=str(run.path),
        dataset=dataset_name,
        split=split,
        images=int(result.support.sum()),
        accuracy=result.accuracy,
        loss=result.loss,
        per_class=per_class,
        confusion=result.confusion.tolist(),
        confusion_png=str(png),
    )
    atomic_write_text(out_dir / f"{stem}.json", json.dumps(report.to_dict(), indent=2) + "\n")
    return report
