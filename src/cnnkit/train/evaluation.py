"""Evaluation of a classifier on a dataset: accuracy, loss, confusion matrix, per-class
precision and recall, and the misclassified examples the report shows."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.data.augment import to_float

__all__ = ["Evaluation", "evaluate", "predict_logits"]


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
    return logits.float()


@torch.no_grad()
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
    was_training = model.training
    model.eval()
    num_classes = dataset.spec.num_classes
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    predictions, loss_sum, seen = [], 0.0, 0
    wrong: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
    kept = 0
    try:
        for images, labels in dataset.batches(batch_size, shuffle=False):
            x = to_float(images.to(device, non_blocking=True))
            logits = predict_logits(model, x, tta=tta, amp=amp, channels_last=channels_last).cpu()
            labels = labels.cpu()
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            probs = logits.softmax(1)
            prob, pred = probs.max(1)
            predictions.append(pred)
            confusion += torch.bincount(labels * num_classes + pred, minlength=num_classes**2).view(
                num_classes, num_classes
            )
            seen += len(labels)
            if kept < keep_wrong:
                miss = (pred != labels).nonzero().flatten()[: keep_wrong - kept]
                wrong.append((images[miss.to(images.device)].cpu(), labels[miss], pred[miss], prob[miss]))
                kept += len(miss)
    finally:
        model.train(was_training)
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
        loss=loss_sum / seen,
        confusion=confusion,
        predictions=torch.cat(predictions),
        wrong_images=imgs,
        wrong_true=true,
        wrong_pred=pred,
        wrong_prob=prob,
    )
