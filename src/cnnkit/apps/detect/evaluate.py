"""``cnnkit detect eval``: a detector on held-out scenes or on an annotated folder (PASCAL VOC or COCO),
measured the ways the papers measure.

VOC mAP at IoU 0.5 (all-point, and VOC 2007's 11-point; difficult objects ignored), COCO
mAP@[.5:.95], AP per class, the selective-search recall against the number of proposals
(Uijlings et al.'s curve), and seconds per image in each stage. Figures: precision-recall per
class, recall against proposals, and the detections drawn on the first images.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from cnnkit.apps.detect.annotations import read_annotated
from cnnkit.apps.detect.files import Detector, draw_detections, read_rgb
from cnnkit.apps.detect.inference import StageTimes, detect_image
from cnnkit.apps.detect.metrics import (
    Detections,
    GroundTruth,
    coco_average_precision,
    precision_recall,
    voc_average_precision,
)
from cnnkit.apps.detect.proposals import proposal_recall, selective_search
from cnnkit.apps.detect.scenes import CLASSES
from cnnkit.apps.detect.task import DetectOptions, scene_set
from cnnkit.errors import ConfigError, CorruptDataError, DataError

__all__ = ["evaluate_on_scenes", "evaluate_on_folder", "plot_precision_recall",
           "plot_proposal_recall", "RECALL_COUNTS"]

RECALL_COUNTS = (10, 30, 100, 300, 1000, 2000)
_TIMED_PROPOSALS = 20   # selective search of held-out scenes is cached; its time is taken on this many


def plot_precision_recall(found: list[Detections], truths: list[GroundTruth], classes: list[str], path: Path) -> Path:
    """One precision-recall curve per class (VOC's ranking at IoU 0.5), with its AP in the legend."""
    from cnnkit.viz._figure import new_figure, save_figure, style_axes

    fig = new_figure(5.6, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    ap = voc_average_precision(found, truths, len(classes))
    for c, name in enumerate(classes):
        curve = precision_recall(found, truths, c)
        if curve.positives == 0:
            continue
        ax.plot(np.concatenate([[0], curve.recall]), np.concatenate([[1], curve.precision]), label=f"{name} ({ap[c]:.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title("Precision and recall per class at IoU 0.5 (AP)")
    ax.legend(loc="lower left", fontsize=8)
    style_axes(ax)
    return save_figure(fig, path)


def plot_proposal_recall(proposals: list[Tensor], truths: list[Tensor], path: Path) -> Path:
    """Recall of the true boxes at IoU 0.5 and 0.7 against the number of proposals kept per image."""
    from cnnkit.viz._figure import new_figure, save_figure, style_axes

    counts = np.unique(np.geomspace(1, max(2, max((len(p) for p in proposals), default=2)), 40).round().astype(int))
    fig = new_figure(5.0, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    for threshold in (0.5, 0.7):
        ax.plot(counts, proposal_recall(proposals, truths, counts.tolist(), threshold), label=f"IoU {threshold}")
    ax.set_xscale("log")
    ax.set_xlabel("proposals per image")
    ax.set_ylabel("recall of the true boxes")
    ax.set_ylim(0, 1.02)
    ax.set_title("Selective search: recall against proposals")
    ax.legend(loc="lower right", fontsize=8)
    style_axes(ax)
    return save_figure(fig, path)


def _measure(detector: Detector, images: list[Tensor], truths: list[GroundTruth], proposals: list[Tensor],
             times: StageTimes, out: Path, examples: int) -> dict[str, Any]:
    found = [detect_image(detector.network, image, p, times=times) for image, p in zip(images, proposals)]
    k = len(detector.classes)
    voc = voc_average_precision(found, truths, k)
    coco = coco_average_precision(found, truths, k)
    recall = proposal_recall(proposals, [t.boxes for t in truths], RECALL_COUNTS)
    per_image = times.per_image()
    out.mkdir(parents=True, exist_ok=True)
    plot_precision_recall(found, truths, detector.classes, out / "precision_recall.png")
    plot_proposal_recall(proposals, [t.boxes for t in truths], out / "proposal_recall.png")
    for i, (image, detections) in enumerate(zip(images[:examples], found[:examples])):
        keep = detections.scores >= 0.5
        draw_detections(image, Detections(detections.boxes[keep], detections.scores[keep], detections.labels[keep]),
                        detector.classes, out / f"example-{i}.png")
    return {
        "images": len(images),
        "map50_voc_all_point": float(np.nanmean(voc)),
        "map50_voc_11_point": float(np.nanmean(voc_average_precision(found, truths, k, eleven_point=True))),
        "map_coco": float(np.nanmean(coco)),
        "map75_coco": float(np.nanmean(coco[5])),
        "ap50_per_class": {name: (None if np.isnan(voc[c]) else float(voc[c])) for c, name in enumerate(detector.classes)},
        "proposals_per_image": float(np.mean([len(p) for p in proposals])),
        "recall_by_proposals": {str(n): float(r) for n, r in zip(RECALL_COUNTS, recall)},
        "recall_at_2000": float(recall[-1]),
        "seconds_per_image": per_image,
        "seconds_per_image_total": float(sum(per_image.values())),
    }


def evaluate_on_scenes(detector: Detector, *, count: int, out: Path, examples: int = 4) -> dict[str, Any]:
    """Measure ``detector`` on ``count`` held-out generated scenes; write the figures into ``out``."""
    if tuple(detector.classes) != CLASSES:
        raise ConfigError(f"this detector knows {', '.join(detector.classes)}, not the generated scenes' classes; "
                          "measure it on annotated images with --data")
    options = DetectOptions(test_images=count, size=detector.task_options.get("size", 128),
                            items=detector.task_options.get("items", "fashion-mnist"))
    test = scene_set(options, "test")
    times = StageTimes()
    for scene in test.scenes[:_TIMED_PROPOSALS]:
        start = time.perf_counter()
        selective_search(scene.image)
        times.add("proposals", start)
    times.seconds["proposals"] *= count / min(count, _TIMED_PROPOSALS)   # as if every scene were timed
    return _measure(detector, [s.image for s in test.scenes], [GroundTruth(s.boxes, s.labels) for s in test.scenes],
                    test.proposals, times, out, examples)


def evaluate_on_folder(detector: Detector, data: Path, *, out: Path, images: Path | None = None,
                       examples: int = 4) -> dict[str, Any]:
    """Measure ``detector`` on the annotated images of ``data`` (VOC folder or COCO JSON)."""
    annotations, _ = read_annotated(data, images, tuple(detector.classes))
    if not annotations:
        raise DataError(f"{data}: no annotated images")
    pictures = []
    for a in annotations:
        picture = read_rgb(a.image)
        if tuple(picture.shape[-2:]) != a.size:
            raise CorruptDataError(f"{a.image}: the image is {picture.shape[2]}x{picture.shape[1]} pixels but its "
                                   f"annotation says {a.size[1]}x{a.size[0]}")
        pictures.append(picture)
    times = StageTimes()
    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:   # OpenCV releases the GIL while it segments
        proposals = list(pool.map(selective_search, pictures))
    times.add("proposals", start)
    truths = [GroundTruth(a.boxes, a.labels, a.difficult) for a in annotations]
    return _measure(detector, pictures, truths, proposals, times, out, examples)
