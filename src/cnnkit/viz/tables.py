"""Tables of a training run for the report: settings, per-epoch metrics and timing, per-class scores.

A table is a tuple of rows of strings whose first row is the header; ``ReportSection``
renders it. Per-class precision and recall are read off the confusion matrix: recall is
the diagonal over the row sum (true class), precision the diagonal over the column sum.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from cnnkit.viz._arrays import to_numpy

__all__ = [
    "Table",
    "format_duration",
    "key_value_table",
    "epoch_table",
    "per_class_table",
    "confusion_table",
]

Table = tuple[tuple[str, ...], ...]

_MISSING = "–"

# (metrics.jsonl key, column header, formatter) of the per-epoch table, in column order.
_EPOCH_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("train_loss", "train loss", "loss"),
    ("train_acc", "train acc", "percent"),
    ("test_loss", "test loss", "loss"),
    ("test_acc", "test acc", "percent"),
    ("train_psnr", "train PSNR", "db"),
    ("test_psnr", "test PSNR", "db"),
    ("test_psnr_bicubic", "bicubic PSNR", "db"),
    ("lr", "lr", "lr"),
    ("seconds", "time", "seconds"),
    ("images_per_s", "images/s", "rate"),
)


def format_duration(seconds: float) -> str:
    """A duration for people: ``"12.3 s"``, ``"3 min 12 s"``, ``"1 h 02 min"``."""
    if seconds is None or not math.isfinite(seconds):
        return _MISSING
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _format_value(value: Any) -> str:
    """A configuration value as text: floats to 6 significant digits, containers as JSON."""
    if value is None:
        return _MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def key_value_table(
    items: Mapping[str, Any] | Iterable[tuple[str, Any]],
    *,
    header: tuple[str, str] = ("setting", "value"),
) -> Table:
    """A two-column table of names and values, e.g. a run's configuration or its timing."""
    pairs = items.items() if isinstance(items, Mapping) else items
    return (tuple(header), *((str(k), _format_value(v)) for k, v in pairs))


def _format_metric(value: Any, kind: str) -> str:
    if value is None or not math.isfinite(float(value)):
        return _MISSING
    value = float(value)
    if kind == "percent":
        return f"{value:.2%}"
    if kind == "loss":
        return f"{value:.4f}"
    if kind == "lr":
        return f"{value:.4g}"
    if kind == "db":
        return f"{value:.2f} dB"
    if kind == "seconds":
        return format_duration(value)
    return f"{value:,.0f}"


def epoch_table(metrics: Sequence[Mapping[str, Any]]) -> Table:
    """One row per epoch of ``metrics.jsonl``: losses, accuracies, learning rate, time and throughput.

    Columns that no record has are left out; a value missing in one record shows as a dash.
    """
    present = [col for col in _EPOCH_COLUMNS if any(r.get(col[0]) is not None for r in metrics)]
    rows = [("epoch", *(col[1] for col in present))]
    for index, record in enumerate(metrics):
        epoch = record.get("epoch")
        rows.append((
            str(index + 1 if epoch is None else epoch),
            *(_format_metric(record.get(key), kind) for key, _, kind in present),
        ))
    return tuple(rows)


def per_class_table(
    classes: Sequence[str],
    precision: Sequence[float],
    recall: Sequence[float],
    support: Sequence[int],
) -> Table:
    """Per-class precision, recall, F1 (their harmonic mean) and support, one row per class."""
    if not len(classes) == len(precision) == len(recall) == len(support):
        raise ValueError(
            f"classes, precision, recall and support must have equal lengths; got "
            f"{len(classes)}, {len(precision)}, {len(recall)}, {len(support)}"
        )
    rows = [("class", "precision", "recall", "F1", "support")]
    for name, p, r, n in zip(classes, precision, recall, support):
        p, r = float(p), float(r)
        f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
        rows.append((str(name), f"{p:.2%}", f"{r:.2%}", f"{f1:.2%}", f"{int(n):,}"))
    return tuple(rows)


def confusion_table(matrix: Any, classes: Sequence[str]) -> Table:
    """``per_class_table`` read off a (K, K) confusion matrix with rows true and columns predicted."""
    counts = to_numpy(matrix).astype(np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"the confusion matrix must be square (K, K); got shape {counts.shape}")
    diagonal = np.diag(counts)
    support = counts.sum(axis=1)
    predicted = counts.sum(axis=0)
    recall = np.divide(diagonal, support, out=np.zeros_like(diagonal), where=support > 0)
    precision = np.divide(diagonal, predicted, out=np.zeros_like(diagonal), where=predicted > 0)
    return per_class_table(classes, precision, recall, support)
