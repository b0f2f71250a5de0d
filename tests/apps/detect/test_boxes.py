"""Box overlap, box coding and NMS against brute-force computations written from their definitions."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.apps.detect.boxes import batched_nms, box_iou, clip_boxes, decode_boxes, encode_boxes, nms


def _random_boxes(g, count, size=50.0):
    corners = torch.rand(count, 4, generator=g, dtype=torch.float64) * size
    return torch.stack([corners[:, [0, 2]].min(1).values, corners[:, [1, 3]].min(1).values,
                        corners[:, [0, 2]].max(1).values + 1, corners[:, [1, 3]].max(1).values + 1], 1)


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _greedy(boxes, scores, threshold):
    remaining = sorted(range(len(boxes)), key=lambda i: -scores[i])
    kept = []
    for i in remaining:
        if all(_iou(boxes[i], boxes[j]) <= threshold for j in kept):
            kept.append(i)
    return kept


def test_iou_matches_the_definition():
    g = torch.Generator().manual_seed(0)
    a, b = _random_boxes(g, 7), _random_boxes(g, 5)
    expected = torch.tensor([[_iou(x, y) for y in b.tolist()] for x in a.tolist()], dtype=torch.float64)
    torch.testing.assert_close(box_iou(a, b), expected)
    assert box_iou(a[:1], a[:1]).item() == 1.0
    assert box_iou(torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([[5.0, 0, 15, 10]])).item() == pytest.approx(1 / 3)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 60), st.sampled_from([0.3, 0.5, 0.7]))
def test_nms_is_greedy_nms(seed, count, threshold):
    g = torch.Generator().manual_seed(seed)
    boxes = _random_boxes(g, count, size=30.0)
    scores = torch.rand(count, generator=g, dtype=torch.float64)
    assert nms(boxes, scores, threshold).tolist() == _greedy(boxes.tolist(), scores.tolist(), threshold)


def test_batched_nms_suppresses_within_each_class_only():
    g = torch.Generator().manual_seed(3)
    boxes = _random_boxes(g, 80, size=20.0)
    scores = torch.rand(80, generator=g, dtype=torch.float64)
    classes = torch.randint(0, 4, (80,), generator=g)
    expected = []
    for c in range(4):
        members = [i for i in range(80) if classes[i] == c]
        expected += [members[k] for k in _greedy(boxes[members].tolist(), scores[members].tolist(), 0.5)]
    kept = batched_nms(boxes, scores, classes, 0.5)
    assert sorted(kept.tolist()) == sorted(expected)
    assert scores[kept].diff().le(0).all()


def test_box_coding_round_trips_and_has_the_rcnn_form():
    g = torch.Generator().manual_seed(4)
    proposals, targets = _random_boxes(g, 20), _random_boxes(g, 20)
    torch.testing.assert_close(decode_boxes(proposals, encode_boxes(proposals, targets)), targets)
    t = encode_boxes(torch.tensor([[0.0, 0, 10, 20]]), torch.tensor([[2.0, 0, 22, 20]]), std=(1, 1, 1, 1))
    torch.testing.assert_close(t, torch.tensor([[0.7, 0.0, float(torch.log(torch.tensor(2.0))), 0.0]]))


def test_clip_keeps_boxes_inside_the_image():
    clipped = clip_boxes(torch.tensor([[-5.0, 3, 120, 70], [10, -2, 20, 200]]), height=64, width=100)
    assert clipped.tolist() == [[0.0, 3, 100, 64], [10, 0, 20, 64]]
