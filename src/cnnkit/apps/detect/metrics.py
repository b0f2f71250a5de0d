"""Detection metrics: PASCAL VOC's average precision at IoU 0.5 (11-point and all-point) and COCO's
mAP@[.5:.95], each written from its reference implementation's rules (the VOC devkit's VOCevalcls/
voc_eval.py, pycocotools' COCOeval), and cross-checked against pycocotools in the tests.

Both rank one class's detections over the whole set by score and count each as a true positive if it
matches a ground-truth box not matched before. They differ in the matching: VOC takes the box of
highest IoU and, if that one is taken, counts a false positive (IoU > 0.5, strictly); COCO takes the
untaken box of highest IoU >= the threshold, keeps each image's 100 best detections per class, and
samples the precision envelope at 101 recall points. IoU here is over continuous pixel areas, as
COCO computes it (VOC's devkit adds one pixel to each side).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from cnnkit.apps.detect.boxes import box_iou

__all__ = ["Detections", "GroundTruth", "PrecisionRecall", "voc_average_precision", "coco_average_precision",
           "precision_recall", "COCO_IOU_THRESHOLDS"]

COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
_COCO_RECALLS = np.linspace(0.0, 1.0, 101)


@dataclass
class Detections:
    """One image's detections: boxes (D, 4), scores (D,), labels (D,) (class indices from 0)."""

    boxes: Tensor
    scores: Tensor
    labels: Tensor


@dataclass
class GroundTruth:
    """One image's objects: boxes (G, 4), labels (G,); ``difficult`` (G,) boxes neither help nor hurt (VOC)."""

    boxes: Tensor
    labels: Tensor
    difficult: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.bool))

    def __post_init__(self) -> None:
        if len(self.difficult) != len(self.labels):
            self.difficult = torch.zeros(len(self.labels), dtype=torch.bool)


@dataclass
class PrecisionRecall:
    """One class's ranked detections: recall and precision after each, and the number of positives."""

    recall: np.ndarray
    precision: np.ndarray
    positives: int


def _class_ranking(detections: list[Detections], cls: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image index, box and score of every detection of class ``cls``, best score first (stable)."""
    images, boxes, scores = [], [], []
    for i, d in enumerate(detections):
        chosen = d.labels == cls
        images.append(np.full(int(chosen.sum()), i))
        boxes.append(d.boxes[chosen].double().numpy().reshape(-1, 4))
        scores.append(d.scores[chosen].double().numpy())
    image, box, score = np.concatenate(images), np.concatenate(boxes), np.concatenate(scores)
    order = np.argsort(-score, kind="mergesort")
    return image[order], box[order], score[order]


def precision_recall(detections: list[Detections], truths: list[GroundTruth], cls: int,
                     iou_threshold: float = 0.5) -> PrecisionRecall:
    """VOC's ranking of class ``cls``: each detection, best first, is a true positive if its highest-IoU
    box of the class overlaps it by more than ``iou_threshold`` and was not matched before."""
    if len(detections) != len(truths):
        raise ValueError(f"{len(detections)} images of detections but {len(truths)} of ground truth")
    image, box, _ = _class_ranking(detections, cls)
    wanted = [t.labels == cls for t in truths]
    gt_boxes = [t.boxes[w].double() for t, w in zip(truths, wanted)]
    difficult = [t.difficult[w].numpy() for t, w in zip(truths, wanted)]
    taken = [np.zeros(len(b), dtype=bool) for b in gt_boxes]
    positives = int(sum((~d).sum() for d in difficult))
    tp, fp = np.zeros(len(image)), np.zeros(len(image))
    for k, (i, b) in enumerate(zip(image, box)):
        if len(gt_boxes[i]) == 0:
            fp[k] = 1
            continue
        overlaps = box_iou(torch.from_numpy(b[None]), gt_boxes[i])[0].numpy()
        j = int(overlaps.argmax())
        if overlaps[j] > iou_threshold:
            if difficult[i][j]:
                continue
            if not taken[i][j]:
                tp[k], taken[i][j] = 1, True
            else:
                fp[k] = 1
        else:
            fp[k] = 1
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    recall = tp / max(positives, 1)
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return PrecisionRecall(recall, precision, positives)


def _voc_ap(curve: PrecisionRecall, eleven_point: bool) -> float:
    if curve.positives == 0:
        return float("nan")
    rec, prec = curve.recall, curve.precision
    if eleven_point:   # VOC 2007: the mean of the best precision at recall >= 0, 0.1, ..., 1
        return float(np.mean([prec[rec >= t].max() if (rec >= t).any() else 0.0 for t in np.linspace(0, 1, 11)]))
    # VOC 2010 on: the area under the precision envelope (precision made monotone from the right)
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def voc_average_precision(detections: list[Detections], truths: list[GroundTruth], num_classes: int, *,
                          iou_threshold: float = 0.5, eleven_point: bool = False) -> np.ndarray:
    """PASCAL VOC average precision of each class (NaN for a class without positives); mAP is its nanmean."""
    return np.array([_voc_ap(precision_recall(detections, truths, c, iou_threshold), eleven_point)
                     for c in range(num_classes)])


def _coco_matches(ious: np.ndarray, threshold: float) -> np.ndarray:
    """COCOeval's greedy matching for one image and class: which detections (rows, best first) match."""
    matched = np.zeros(ious.shape[0], dtype=bool)
    taken = np.zeros(ious.shape[1], dtype=bool)
    for d in range(ious.shape[0]):
        best, m = min(threshold, 1 - 1e-10), -1
        for g in range(ious.shape[1]):
            if taken[g] or ious[d, g] < best:
                continue
            best, m = ious[d, g], g
        if m >= 0:
            matched[d], taken[m] = True, True
    return matched


def coco_average_precision(detections: list[Detections], truths: list[GroundTruth], num_classes: int, *,
                           max_detections: int = 100) -> np.ndarray:
    """COCO's average precision (area range "all"), shape (len(COCO_IOU_THRESHOLDS), num_classes), NaN for a
    class without ground truth. ``.nanmean()`` is mAP@[.5:.95]; row 0 is AP@.5, row 5 AP@.75."""
    if len(detections) != len(truths):
        raise ValueError(f"{len(detections)} images of detections but {len(truths)} of ground truth")
    result = np.full((len(COCO_IOU_THRESHOLDS), num_classes), np.nan)
    for c in range(num_classes):
        scores, hits = [], [[] for _ in COCO_IOU_THRESHOLDS]
        positives = 0
        for d, t in zip(detections, truths):
            gt = t.boxes[t.labels == c].double()
            positives += len(gt)
            chosen = d.labels == c
            score = d.scores[chosen].double().numpy()
            order = np.argsort(-score, kind="mergesort")[:max_detections]
            boxes = d.boxes[chosen].double()[torch.from_numpy(order)]
            ious = box_iou(boxes, gt).numpy() if len(gt) and len(boxes) else np.zeros((len(boxes), len(gt)))
            scores.append(score[order])
            for k, threshold in enumerate(COCO_IOU_THRESHOLDS):
                hits[k].append(_coco_matches(ious, threshold))
        if positives == 0:
            continue
        order = np.argsort(-np.concatenate(scores), kind="mergesort")
        for k in range(len(COCO_IOU_THRESHOLDS)):
            tp_flags = np.concatenate(hits[k])[order]
            tp = np.cumsum(tp_flags)
            fp = np.cumsum(~tp_flags)
            recall = tp / positives
            precision = tp / (tp + fp + np.spacing(1))
            precision = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
            at = np.searchsorted(recall, _COCO_RECALLS, side="left")
            sampled = np.where(at < len(precision), precision[np.minimum(at, max(len(precision) - 1, 0))]
                               if len(precision) else 0.0, 0.0)
            result[k, c] = float(np.mean(sampled))
    return result
