"""Region proposals by selective search (Uijlings et al., IJCV 2013), R-CNN's first stage, from OpenCV's
maintained implementation (cv2.ximgproc.segmentation), and the recall curve that judges them.

Selective search over-segments the image (Felzenszwalb's graph segmentation at several scales and
colour spaces) and greedily merges neighbouring regions by colour, texture, size and fill
similarity; every region along the way is a proposal. "fast" is the paper's fast mode (two colour
spaces, two strategies, k 50 and 100); "quality" its quality mode (more of each, about 4x slower).
Small images are enlarged first (``min_side``), because the segmentation's scales are in pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from cnnkit.apps.detect.boxes import box_iou
from cnnkit.errors import ConfigError

__all__ = ["selective_search", "proposal_recall", "MODES"]

MODES = ("fast", "quality", "single")


def selective_search(image: Tensor, *, mode: str = "fast", max_proposals: int = 2000, min_side: int = 128,
                     min_size: float = 4.0) -> Tensor:
    """Proposals (P, 4) as (x1, y1, x2, y2) in ``image``'s pixels, in selective search's order (its own
    ranking: the regions of the merge hierarchy, most promising first), duplicates removed, at most
    ``max_proposals``, each at least ``min_size`` pixels wide and tall. ``image`` is (3, H, W) in [0, 1]."""
    import cv2

    if mode not in MODES:
        raise ConfigError(f"selective search mode must be one of {', '.join(MODES)}; got {mode!r}")
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ConfigError(f"selective search expects an image (3, H, W) or (1, H, W); got shape {tuple(image.shape)}")
    height, width = image.shape[1:]
    scale = max(1.0, min_side / min(height, width))
    array = (image.expand(3, -1, -1).permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    bgr = np.ascontiguousarray(array[:, :, ::-1])
    if scale > 1:
        bgr = cv2.resize(bgr, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_LINEAR)
    cv2.setNumThreads(1)   # one image per call; callers parallelise over images
    search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    search.setBaseImage(bgr)
    {"fast": search.switchToSelectiveSearchFast, "quality": search.switchToSelectiveSearchQuality,
     "single": search.switchToSingleStrategy}[mode]()
    rects = search.process()
    if len(rects) == 0:
        return torch.zeros(0, 4)
    xywh = torch.from_numpy(np.asarray(rects, dtype=np.float32)) / scale
    boxes = torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
    keep = ((boxes[:, 2] - boxes[:, 0]) >= min_size) & ((boxes[:, 3] - boxes[:, 1]) >= min_size)
    boxes = boxes[keep]
    _, first = np.unique(boxes.round().numpy(), axis=0, return_index=True)
    return boxes[torch.from_numpy(np.sort(first))][:max_proposals]


def proposal_recall(proposals: Sequence[Tensor], truths: Sequence[Tensor], counts: Sequence[int],
                    iou_threshold: float = 0.5) -> np.ndarray:
    """The fraction of true boxes covered (IoU >= ``iou_threshold``) by one of each image's first ``count``
    proposals, for each count: selective search's recall-against-proposals curve."""
    best = []   # per true box, the rank of its first covering proposal (inf: none)
    for boxes, truth in zip(proposals, truths):
        if len(truth) == 0:
            continue
        if len(boxes) == 0:
            best.append(np.full(len(truth), np.inf))
            continue
        covers = box_iou(truth.double(), boxes.double()) >= iou_threshold     # (G, P)
        ranks = torch.where(covers, torch.arange(len(boxes)).double(), torch.inf).amin(1)
        best.append(ranks.numpy())
    if not best:
        return np.full(len(counts), np.nan)
    ranks = np.concatenate(best)
    return np.array([(ranks < count).mean() for count in counts])
