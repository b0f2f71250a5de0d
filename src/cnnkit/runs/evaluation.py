"""Evaluation of a classifier: the one batched inference loop (``for_each_batch``), and on a
dataset accuracy, loss, confusion matrix, per-class precision and recall, the misclassified
examples the report shows (``evaluate``), and ``cnnkit eval`` (``evaluate_run_dir``)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.atomic import atomic_write_text
from cnnkit.device import resolve_device
from cnnkit.errors import ConfigError, OutputError

__all__ = ["EvalReport", "Evaluation", "evaluate", "evaluate_run_dir", "for_each_batch", "predict_logits"]


@dataclass(frozen=True)
class Evaluation:
    """The result of ``evaluate``; ``confusion[t, p]`` counts true class t predicted as p."""

    accuracy: float
    loss: float
    confusion: Tensor            # (K, K) int64
    predictions: Tensor          # (N,) int64, in dataset order
    wrong_images: Tensor         # (M, C, H, W) uint8, the first misclassified images
    wrong_true: Tensor           # (M,) int64
    wrong_pred: Tensor           # (M,) int64
    wrong_prob: Tensor           # (M,) float, probability of the wrong prediction

    @property
    def precision(self) -> Tensor:
        """Per-class precision: correct predictions of class k over all predictions of k."""
        predicted = self.confusion.sum(0).clamp(min=1)
        return self.confusion.diag().double() / predicted

    @property
    def recall(self) -> Tensor:
        """Per-class recall: correct predictions of class k over all images of class k."""
        support = self.confusion.sum(1).clamp(min=1)
        return self.confusion.diag().double() / support

    @property
    def support(self) -> Tensor:
        """Number of images of each class."""
        return self.confusion.sum(1)

    @property
    def metrics(self) -> dict[str, float]:
        """What metrics.jsonl records of a test evaluation."""
        return {"test_loss": self.loss, "test_acc": self.accuracy}


def predict_logits(
    model: nn.Module,
    x: Tensor,
    *,
    tta: bool = False,
    amp: torch.dtype | None = None,
    channels_last: bool = False,
) -> Tensor:
    """Logits for a float batch in [0, 1]; with ``tta`` the mean of x and its mirror image."""
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    autocast = torch.autocast(x.device.type, dtype=amp) if amp is not None else contextlib.nullcontext()
    with autocast:
        logits = model(x)
        if tta:
            logits = 0.5 * (logits + model(torch.flip(x, dims=(-1,))))
    return logits if logits.dtype in (torch.float32, torch.float64) else logits.float()


def for_each_batch(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    consume: Callable[[Tensor, Tensor, Tensor], None],
    *,
    device: torch.device | str | None = None,
    tta: bool = False,
    amp: torch.dtype | None = None,
    channels_last: bool = False,
) -> None:
    """The one batched inference loop: ``consume(images, labels, logits)`` for each batch.

    In eval mode without gradients (the caller's mode restored after). Images are moved to
    ``device`` (by default they stay where they are) and uint8 pixels become floats in [0, 1];
    ``logits`` are float32 (float64 for a float64 model). Training evaluation, attack predictions and the loss landscape
    all run here and differ only in what they add up.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for images, labels in batches:
                x = images if device is None else images.to(device, non_blocking=True)
                if x.dtype == torch.uint8:
                    x = x.to(torch.float32).div_(255.0)
                consume(images, labels, predict_logits(model, x, tta=tta, amp=amp, channels_last=channels_last))
    finally:
        model.train(was_training)


def evaluate(
    model: nn.Module,
    dataset,
    *,
    batch_size: int = 500,
    device: torch.device | str = "cpu",
    tta: bool = False,
    amp: torch.dtype | None = None,
    channels_last: bool = False,
    keep_wrong: int = 0,
) -> Evaluation:
    """Accuracy, mean cross-entropy and confusion matrix of ``model`` (pixels in [0, 1]) on ``dataset``."""
    num_classes = dataset.spec.num_classes
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    predictions: list[Tensor] = []
    wrong: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
    totals = {"loss": 0.0, "seen": 0, "kept": 0}

    def add(images: Tensor, labels: Tensor, logits: Tensor) -> None:
        nonlocal confusion
        logits, labels = logits.cpu(), labels.cpu()
        totals["loss"] += F.cross_entropy(logits, labels, reduction="sum").item()
        prob, pred = logits.softmax(1).max(1)
        predictions.append(pred)
        confusion += torch.bincount(labels * num_classes + pred, minlength=num_classes**2).view(
            num_classes, num_classes
        )
        totals["seen"] += len(labels)
        if totals["kept"] < keep_wrong:
            miss = (pred != labels).nonzero().flatten()[: keep_wrong - totals["kept"]]
            wrong.append((images[miss.to(images.device)].cpu(), labels[miss], pred[miss], prob[miss]))
            totals["kept"] += len(miss)

    for_each_batch(model, dataset.batches(batch_size, shuffle=False), add, device=device, tta=tta, amp=amp,
                   channels_last=channels_last)
    seen = totals["seen"]
    if seen == 0:
        raise ValueError("evaluate() got an empty dataset")
    if wrong:
        imgs, true, pred, prob = (torch.cat(parts) for parts in zip(*wrong))
    else:
        imgs = torch.zeros(0, dtype=torch.uint8)
        true = pred = torch.zeros(0, dtype=torch.int64)
        prob = torch.zeros(0)
    return Evaluation(
        accuracy=confusion.diag().sum().item() / seen,
        loss=totals["loss"] / seen,
        confusion=confusion,
        predictions=torch.cat(predictions),
        wrong_images=imgs,
        wrong_true=true,
        wrong_pred=pred,
        wrong_prob=prob,
    )


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
    from cnnkit.runs.datasets import dataset_for
    from cnnkit.runs.format import load_run
    from cnnkit.runs.lock import lock_if_inside
    from cnnkit.runs.opening import require_classifier

    torch_device = resolve_device(device)
    run = require_classifier(load_run(run_dir, device=torch_device), run_dir, "eval")
    dataset = dataset_for(run, data=data, data_dir=data_dir, split=split)
    dataset_name = data or run.info.dataset
    spec = dataset.spec
    if tta and not spec.hflip:
        raise ConfigError(f"tta (--tta) flips images, which changes the class in {dataset_name}; set it off")
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
