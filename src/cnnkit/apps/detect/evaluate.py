"""``cnnkit detect eval``: a detector on held-out scenes, measured the ways the papers measure.

VOC mAP at IoU 0.5 (all-point, and VOC 2007's 11-point), COCO mAP@[.5:.95], AP per class, the
selective-search recall against the number of proposals (Uijlings et al., figure 4's curve), and
seconds per image in each stage. Figures: precision-recall per class, and the detections drawn on
the first held-out scenes beside their true boxes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from cnnkit.apps.detect.files import Detector, draw_detections
from cnnkit.apps.detect.inference import StageTimes, detect_image
from cnnkit.apps.detect.metrics import (
    Detections,
    GroundTruth,
    coco_average_precision,
    precision_recall,
    voc_average_precision,
)
from cnnkit.apps.detect.proposals import proposal_recall, selective_search
from cnnkit.apps.detect.task import DetectOptions, scene_set

__all__ = ["evaluate_on_scenes", "plot_precision_recall", "RECALL_COUNTS"]

RECALL_COUNTS = (10, 30, 100, 300, 1000, 2000)
_TIMED_PROPOSALS = 20   # selective search is cached for the metrics; its time is taken on this many images


def plot_precision_recall(found: list[Detections], truths: list[GroundTruth], classes: list[str], path: Path) -> Path:
    """One precision-recall curve per class (VOC's ranking at IoU 0.5), with its AP in the legend."""
    from cnnkit.viz._figure import new_figure, save_figure, style_axes

    fig = new_figure(5.6, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    for c, name in enumerate(classes):
        curve = precision_recall(found, truths, c)
        if curve.positives == 0:
            continue
        ap = voc_average_precision(found, truths, len(classes))[c]
        ax.plot(np.concatenate([[0], curve.recall]), np.concatenate([[1], curve.precision]), label=f"{name} ({ap:.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title("Precision and recall per class at IoU 0.5 (AP)")
    ax.legend(loc="lower left", fontsize=8)
    style_axes(ax)
    return save_figure(fig, path)


def evaluate_on_scenes(detector: Detector, *, count: int, out: Path, examples: int = 4) -> dict[str, Any]:
    """Measure ``detector`` on ``count`` held-out scenes; write the figures into ``out``; the numbers."""
    options = DetectOptions(test_images=count, size=detector.task_options.get("size", 128),
                            items=detector.task_options.get("items", "fashion-mnist"))
    test = scene_set(options, "test")
    times = StageTimes()
    for scene in test.scenes[:_TIMED_PROPOSALS]:
        start = time.perf_counter()
        selective_search(scene.image)
        times.add("proposals", start)
    proposal_seconds = times.seconds["proposals"] / min(count, _TIMED_PROPOSALS)
    found = [detect_image(detector.network, s.image, p, times=times) for s, p in zip(test.scenes, test.proposals)]
    truths = [GroundTruth(s.boxes, s.labels) for s in test.scenes]
    k = len(detector.classes)
    voc = voc_average_precision(found, truths, k)
    coco = coco_average_precision(found, truths, k)
    recall = proposal_recall(test.proposals, [s.boxes for s in test.scenes], RECALL_COUNTS)
    per_image = times.per_image()
    per_image["proposals"] = proposal_seconds
    out.mkdir(parents=True, exist_ok=True)
    plot_precision_recall(found, truths, detector.classes, out / "precision_recall.png")
    for i, (scene, detections) in enumerate(zip(test.scenes[:examples], found[:examples])):
        keep = detections.scores >= 0.5
        draw_detections(scene.image, Detections(detections.boxes[keep], detections.scores[keep],
                                                detections.labels[keep]), detector.classes, out / f"example-{i}.png")
    return {
        "scenes": count,
        "map50_voc_all_point": float(np.nanmean(voc)),
        "map50_voc_11_point": float(np.nanmean(voc_average_precision(found, truths, k, eleven_point=True))),
        "map_coco": float(np.nanmean(coco)),
        "map75_coco": float(np.nanmean(coco[5])),
        "ap50_per_class": {name: float(voc[c]) for c, name in enumerate(detector.classes)},
        "proposals_per_image": float(np.mean([len(p) for p in test.proposals])),
        "recall_by_proposals": {str(n): float(r) for n, r in zip(RECALL_COUNTS, recall)},
        "recall_at_2000": float(recall[-1]),
        "seconds_per_image": per_image,
        "seconds_per_image_total": float(sum(per_image.values())),
    }
