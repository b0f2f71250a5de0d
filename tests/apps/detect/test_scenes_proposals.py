"""The synthetic detection scenes (boxes tight on the drawn objects, deterministic, overlap rules kept)
and selective search's proposals (recall on those scenes, the recall curve against a brute-force count)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnkit.apps.detect.boxes import box_iou
from cnnkit.apps.detect.proposals import proposal_recall, selective_search
from cnnkit.apps.detect.scenes import CLASSES, DetectionSceneConfig, items_by_class, make_scene
from cnnkit.errors import ConfigError


@pytest.fixture(scope="module")
def photos():
    g = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.avg_pool2d(torch.rand(2, 3, 200, 240, generator=g), 9, 1, 4)
    return [p for p in smooth]


@pytest.fixture(scope="module")
def items():
    # stand-ins for Fashion-MNIST: a filled rectangle of a different size per class
    images = torch.zeros(30, 28, 28, dtype=torch.uint8)
    labels = torch.tensor([1, 8, 9] * 10)
    for k, label in enumerate(labels.tolist()):
        half = {1: 4, 8: 9, 9: 12}[label]
        images[k, 14 - half:14 + half, 6:22] = 200
    return items_by_class(images, labels)


def test_scenes_are_deterministic_and_differ_by_seed(photos, items):
    a, b, c = make_scene(5, photos, items), make_scene(5, photos, items), make_scene(6, photos, items)
    assert torch.equal(a.image, b.image) and torch.equal(a.boxes, b.boxes) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.image, c.image)


def test_boxes_are_tight_on_what_was_drawn_and_keep_the_overlap_rules(photos, items):
    config = DetectionSceneConfig(objects=(1, 5))
    seen = set()
    for seed in range(30):
        background = make_scene(seed, photos, items, config=DetectionSceneConfig(objects=(0, 0)))
        scene = make_scene(seed, photos, items, config=config)
        changed = (scene.image - background.image).abs().amax(0) > 1e-6
        assert len(scene.boxes) >= 1
        covered = torch.zeros_like(changed)
        for x1, y1, x2, y2 in scene.boxes.long().tolist():   # a box holds the pixels at least half covered:
            covered[max(y1 - 1, 0):y2 + 1, max(x1 - 1, 0):x2 + 1] = True   # antialiasing reaches one pixel past
        assert not (changed & ~covered).any()   # nothing drawn outside the boxes
        for x1, y1, x2, y2 in scene.boxes.long().tolist():   # and every box edge touches the object
            drawn = changed[y1:y2, x1:x2]
            assert drawn[0].any() and drawn[-1].any() and drawn[:, 0].any() and drawn[:, -1].any()
        iou = box_iou(scene.boxes, scene.boxes).fill_diagonal_(0)
        assert iou.max() <= 0.3 + 0.05
        seen.update(scene.labels.tolist())
    assert seen == set(range(len(CLASSES)))


def test_without_items_only_shapes_appear(photos):
    labels = torch.cat([make_scene(s, photos, None).labels for s in range(20)])
    assert set(labels.tolist()) <= {0, 1, 2}


def test_bad_scene_configs_raise():
    with pytest.raises(ConfigError, match="side"):
        DetectionSceneConfig(side=(4, 20))
    with pytest.raises(ConfigError, match="objects"):
        DetectionSceneConfig(objects=(3, 1))


def test_selective_search_finds_the_objects_of_the_scenes(photos, items):
    scenes = [make_scene(100 + s, photos, items) for s in range(12)]
    proposals = [selective_search(s.image) for s in scenes]
    for p, s in zip(proposals, scenes):
        assert p.shape[1] == 4 and len(p) <= 2000
        assert (p[:, 2] > p[:, 0]).all() and (p[:, 0] >= 0).all() and (p[:, 2] <= s.image.shape[2]).all()
    assert proposal_recall(proposals, [s.boxes for s in scenes], [2000])[0] >= 0.8   # 0.98 on photographs


def test_proposal_recall_counts_the_first_covering_rank():
    truth = [torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]])]
    proposals = [torch.tensor([[50.0, 50, 60, 60], [0, 0, 10, 9], [21, 21, 30, 30], [0, 0, 10, 10]])]
    # IoU of the second proposal with box 0 is 0.9, of the third with box 1 0.81
    assert proposal_recall(proposals, truth, [1, 2, 3, 4]).tolist() == [0.0, 0.5, 1.0, 1.0]
    assert proposal_recall(proposals, truth, [4], iou_threshold=0.95).tolist() == [0.5]
    assert np.isnan(proposal_recall([torch.zeros(0, 4)], [torch.zeros(0, 4)], [1])[0])


def test_selective_search_rejects_a_bad_mode_or_shape():
    with pytest.raises(ConfigError, match="mode"):
        selective_search(torch.rand(3, 32, 32), mode="slow")
    with pytest.raises(ConfigError, match="image"):
        selective_search(torch.rand(32, 32))
