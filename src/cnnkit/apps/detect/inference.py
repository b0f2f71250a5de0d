"""Detection at test time, R-CNN's pipeline (Girshick et al., 2014, section 2.2): proposals, then every
proposal scored, its box regressed for each class, and per-class non-maximum suppression.

Each stage is timed apart (``StageTimes``), so a user sees where an image's time goes: selective
search, warping (R-CNN only), the CNN, and NMS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from cnnkit.apps.detect.boxes import batched_nms, clip_boxes, decode_boxes
from cnnkit.apps.detect.metrics import Detections
from cnnkit.apps.detect.networks import RCNN, warp_regions

__all__ = ["IMAGE_MEAN", "IMAGE_STD", "StageTimes", "normalise", "detect_image", "postprocess"]

IMAGE_MEAN = 0.5    # images in [0, 1] are normalised to about zero mean and unit spread, so the warp's
IMAGE_STD = 0.25    # zero fill outside the image is the mean, as R-CNN fills


def normalise(images: Tensor) -> Tensor:
    return (images - IMAGE_MEAN) / IMAGE_STD


@dataclass
class StageTimes:
    """Seconds spent in each stage, summed over the images seen."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("proposals", "warp", "cnn", "nms"), 0.0))
    images: int = 0

    def add(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - start
        return now

    def per_image(self) -> dict[str, float]:
        return {k: v / max(self.images, 1) for k, v in self.seconds.items()}


def postprocess(proposals: Tensor, logits: Tensor, deltas: Tensor, size: tuple[int, int], *,
                score_threshold: float = 0.05, nms_iou: float = 0.3, max_detections: int = 100) -> Detections:
    """Detections of one image from its proposals (P, 4), class logits (P, K + 1) and deltas (P, K, 4):
    each proposal's box for every class above ``score_threshold``, suppressed per class (R-CNN: IoU 0.3),
    the ``max_detections`` best kept."""
    scores = torch.softmax(logits.float(), dim=1)[:, 1:]                        # (P, K): background dropped
    boxes = clip_boxes(decode_boxes(proposals.float(), deltas.float()), *size)  # (P, K, 4)
    keep = scores > score_threshold
    classes = torch.nonzero(keep)[:, 1]
    boxes, scores = boxes[keep], scores[keep]
    wide = (boxes[:, 2] - boxes[:, 0] > 1e-3) & (boxes[:, 3] - boxes[:, 1] > 1e-3)
    boxes, scores, classes = boxes[wide], scores[wide], classes[wide]
    kept = batched_nms(boxes, scores, classes, nms_iou)[:max_detections]
    return Detections(boxes[kept], scores[kept], classes[kept])


@torch.no_grad()
def detect_image(model: nn.Module, image: Tensor, proposals: Tensor, *, score_threshold: float = 0.05,
                 nms_iou: float = 0.3, max_detections: int = 100, chunk: int = 1024,
                 times: StageTimes | None = None) -> Detections:
    """Detections in ``image`` (3, H, W) in [0, 1] from its ``proposals`` (P, 4), by an R-CNN (each
    proposal warped and classified, ``chunk`` at a time) or a Fast R-CNN (one pass, RoI pooling)."""
    times = times if times is not None else StageTimes()
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    start = time.perf_counter()
    images = normalise(image.to(device).float())[None]
    rois = torch.cat([torch.zeros(len(proposals), 1), proposals.float().cpu()], 1).to(device)
    if isinstance(model, RCNN):
        logits, deltas = [], []
        for i in range(0, len(rois), chunk):
            crops = warp_regions(images, rois[i:i + chunk], model.crop)
            start = times.add("warp", start)
            out = model.classify_crops(crops)
            logits.append(out[0])
            deltas.append(out[1])
            start = times.add("cnn", start)
        logit = torch.cat(logits) if logits else torch.zeros(0, model.num_classes + 1, device=device)
        delta = torch.cat(deltas) if deltas else torch.zeros(0, model.num_classes, 4, device=device)
    else:
        logit, delta = model((images, rois))
        start = times.add("cnn", start)
    found = postprocess(proposals.float().cpu(), logit.cpu(), delta.cpu(), tuple(image.shape[-2:]),
                        score_threshold=score_threshold, nms_iou=nms_iou, max_detections=max_detections)
    times.add("nms", start)
    times.images += 1
    model.train(was)
    return found
