"""VOC and COCO average precision: COCO's against pycocotools on random scenes, VOC's on worked examples."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

from cnnkit.apps.detect.metrics import Detections, GroundTruth, coco_average_precision, voc_average_precision

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


def _random_scene(g, classes):
    """Ground truth and imperfect detections: jittered copies of true boxes, misses, and clutter."""
    count = int(torch.randint(0, 6, (1,), generator=g))
    xy = torch.rand(count, 2, generator=g) * 80
    wh = torch.rand(count, 2, generator=g) * 40 + 8
    boxes = torch.cat([xy, xy + wh], 1)
    labels = torch.randint(0, classes, (count,), generator=g)
    found = torch.rand(count, generator=g) < 0.8
    jitter = torch.randn(count, 4, generator=g) * wh.repeat(1, 2) * 0.12
    clutter = int(torch.randint(0, 4, (1,), generator=g))
    cxy = torch.rand(clutter, 2, generator=g) * 80
    det_boxes = torch.cat([(boxes + jitter)[found], torch.cat([cxy, cxy + 10 + torch.rand(clutter, 2, generator=g) * 30], 1)])
    det_labels = torch.cat([labels[found], torch.randint(0, classes, (clutter,), generator=g)])
    # a few duplicates of found boxes, so that some detections hit an already matched box
    dup = torch.rand(len(det_boxes), generator=g) < 0.2
    det_boxes = torch.cat([det_boxes, det_boxes[dup] + 1.5])
    det_labels = torch.cat([det_labels, det_labels[dup]])
    scores = torch.rand(len(det_boxes), generator=g)
    return GroundTruth(boxes, labels), Detections(det_boxes, scores, det_labels)


def _pycocotools(truths, detections, classes):
    images = [{"id": i + 1, "width": 200, "height": 200} for i in range(len(truths))]
    annotations, results = [], []
    for i, (t, d) in enumerate(zip(truths, detections)):
        for b, label in zip(t.boxes.tolist(), t.labels.tolist()):
            w, h = b[2] - b[0], b[3] - b[1]
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": label + 1,
                                "bbox": [b[0], b[1], w, h], "area": w * h, "iscrowd": 0})
        for b, s, label in zip(d.boxes.tolist(), d.scores.tolist(), d.labels.tolist()):
            results.append({"image_id": i + 1, "category_id": label + 1, "score": s,
                            "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": annotations,
                      "categories": [{"id": c + 1, "name": str(c)} for c in range(classes)]}
        gt.createIndex()
        evaluation = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coco_map_matches_pycocotools(seed):
    g = torch.Generator().manual_seed(seed)
    truths, detections = zip(*[_random_scene(g, 4) for _ in range(40)])
    ours = coco_average_precision(list(detections), list(truths), 4)
    stats = _pycocotools(truths, detections, 4)
    assert np.nanmean(ours) == pytest.approx(stats[0], abs=1e-12)
    assert np.nanmean(ours[0]) == pytest.approx(stats[1], abs=1e-12)
    assert np.nanmean(ours[5]) == pytest.approx(stats[2], abs=1e-12)


def test_voc_ap_of_a_worked_example():
    # three objects; the ranking is hit, miss, hit: recall 1/3, 1/3, 2/3 and precision 1, 1/2, 2/3
    truth = GroundTruth(torch.tensor([[0.0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]]), torch.zeros(3, dtype=torch.long))
    found = Detections(torch.tensor([[0.0, 0, 10, 10], [60, 60, 70, 70], [20, 0, 30, 10]]), torch.tensor([0.9, 0.8, 0.7]),
                       torch.zeros(3, dtype=torch.long))
    all_point = voc_average_precision([found], [truth], 1)
    eleven = voc_average_precision([found], [truth], 1, eleven_point=True)
    assert all_point[0] == pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3)
    assert eleven[0] == pytest.approx((4 * 1 + 3 * 2 / 3) / 11)


def test_voc_ap_counts_a_second_hit_on_one_object_as_false_and_ignores_difficult_ones():
    boxes = torch.tensor([[0.0, 0, 10, 10], [20, 0, 30, 10]])
    # ranked: a near copy of object 0 (IoU 0.95), object 0 exactly (taken: a false positive), object 1
    found = Detections(torch.tensor([[0.5, 0, 10, 10], [0.0, 0, 10, 10], [20, 0, 30, 10]]),
                       torch.tensor([0.9, 0.8, 0.7]), torch.zeros(3, dtype=torch.long))
    plain = voc_average_precision([found], [GroundTruth(boxes, torch.zeros(2, dtype=torch.long))], 2)
    assert plain[0] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)   # recall 1/2, 1/2, 1 at precision 1, 1/2, 2/3
    assert np.isnan(plain[1])                                 # no object of class 1
    difficult = GroundTruth(boxes, torch.zeros(2, dtype=torch.long), torch.tensor([False, True]))
    # object 1 difficult: its detection counts neither way, one positive, ranked hit then false
    assert voc_average_precision([found], [difficult], 1)[0] == pytest.approx(1.0)
    assert voc_average_precision([found], [difficult], 1, eleven_point=True)[0] == pytest.approx(1.0)
