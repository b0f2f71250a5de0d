"""Boxes for detection: overlap (IoU), R-CNN's box regression targets, and greedy non-maximum suppression.

Boxes are (x1, y1, x2, y2) in continuous pixel coordinates, x2 > x1: a box covering pixel columns
0..9 is (0, 10), its area (x2 - x1)(y2 - y1), as COCO measures it (PASCAL VOC's files count
inclusive 1-based pixels; the loader converts them).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["box_area", "box_iou", "encode_boxes", "decode_boxes", "clip_boxes", "nms", "batched_nms",
           "BOX_CODING_STD"]

# Fast R-CNN normalises the regression targets by these standard deviations (its bbox_normalize_stds)
BOX_CODING_STD = (0.1, 0.1, 0.2, 0.2)
_MAX_LOG_SCALE = math.log(1000.0 / 16)   # a decoded box grows at most 62x its proposal (as Detectron clamps)


def box_area(boxes: Tensor) -> Tensor:
    """Area of each box (..., 4); an inverted box has area 0."""
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """Intersection over union of every box of ``a`` (N, 4) with every box of ``b`` (M, 4): (N, M)."""
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(inter.dtype).tiny), 0.0)


def _centres(boxes: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h, w, h


def encode_boxes(proposals: Tensor, targets: Tensor, std: tuple[float, ...] = BOX_CODING_STD) -> Tensor:
    """R-CNN's regression targets (Girshick et al., 2014, appendix C): the centre shift in units of the
    proposal's size and the log of the size ratio, t = ((Gx - Px) / Pw, (Gy - Py) / Ph, log Gw / Pw,
    log Gh / Ph), divided by ``std`` as Fast R-CNN does. (N, 4) each; proposals must have positive size."""
    px, py, pw, ph = _centres(proposals)
    gx, gy, gw, gh = _centres(targets)
    t = torch.stack([(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw), torch.log(gh / ph)], dim=1)
    return t / t.new_tensor(std)


def decode_boxes(proposals: Tensor, deltas: Tensor, std: tuple[float, ...] = BOX_CODING_STD) -> Tensor:
    """The inverse of ``encode_boxes``: boxes (..., 4) from proposals (N, 4) and deltas (N, ..., 4)."""
    px, py, pw, ph = _centres(proposals)
    shape = (-1,) + (1,) * (deltas.dim() - 2)
    px, py, pw, ph = (v.view(shape) for v in (px, py, pw, ph))
    d = deltas * deltas.new_tensor(std)
    cx = px + d[..., 0] * pw
    cy = py + d[..., 1] * ph
    w = pw * torch.exp(d[..., 2].clamp(max=_MAX_LOG_SCALE))
    h = ph * torch.exp(d[..., 3].clamp(max=_MAX_LOG_SCALE))
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def clip_boxes(boxes: Tensor, height: int, width: int) -> Tensor:
    """Boxes (..., 4) clipped to an image of ``height`` x ``width`` pixels."""
    x = boxes[..., 0::2].clamp(0, width)
    y = boxes[..., 1::2].clamp(0, height)
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1)


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression: indices of the kept boxes, highest score first.

    A box is kept unless a kept box of higher score overlaps it by more than ``iou_threshold``.
    Vectorised: from "keep everything", each pass re-decides every box from the boxes ranked above
    it; after pass k the first k decisions are final, so the passes reach greedy NMS's unique answer,
    and they stop as soon as a pass changes nothing (a few passes: chains of suppression are short).
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    overlaps = box_iou(boxes[order], boxes[order]) > iou_threshold
    suppresses = torch.triu(overlaps, diagonal=1)          # [j, i]: j ranks above i and overlaps it
    keep = torch.ones(len(order), dtype=torch.bool, device=boxes.device)
    for _ in range(len(order)):
        new = ~(suppresses & keep[:, None]).any(0)
        if torch.equal(new, keep):
            break
        keep = new
    return order[keep]


def batched_nms(boxes: Tensor, scores: Tensor, classes: Tensor, iou_threshold: float) -> Tensor:
    """Per-class NMS in one pass: each class's boxes are shifted apart so that boxes of different
    classes never overlap. Indices of the kept boxes, highest score first."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    span = boxes.max() - boxes.min() + 1
    shifted = boxes - boxes.min() + (classes.to(boxes.dtype) * span)[:, None]
    return nms(shifted, scores, iou_threshold)
