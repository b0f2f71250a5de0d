"""R-CNN and Fast R-CNN on one zoo backbone, so the two differ only where the papers differ.

R-CNN (Girshick et al., CVPR 2014): every proposal is dilated for context (p = 16 pixels at the
paper's 227-pixel input: the box grows by 227 / (227 - 2 p), at any warp size), warped to the CNN's
input and classified on its own: one backbone pass per proposal. Fast R-CNN (Girshick, ICCV 2015):
one backbone pass per image, each proposal RoI-max-pooled from the shared feature map into the grid
the classifier expects. Both end in the same two heads: K + 1 class scores (0 is background) and
class-specific box regression (4 K deltas, R-CNN's coding: boxes.py). R-CNN's paper trains SVMs and
ridge regressors on frozen features; here, as in Fast R-CNN, both heads train with the network.

The backbone is the zoo's FastNet: its convolution stack (stride 8) and its head's 3 x 3 max-pooled
grid; R-CNN warps to 8 x ``grid`` pixels, so both see the same 3 x 3 grid of the same features.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.models import create_model, register_model
from cnnkit.ops.roi import roi_pool

__all__ = ["RCNN", "FastRCNN", "rcnn", "fast_rcnn", "warp_regions", "context_boxes", "CONTEXT_PADDING", "PAPER_INPUT"]

CONTEXT_PADDING = 16   # R-CNN's p, in pixels of its 227-pixel warped input
PAPER_INPUT = 227
STRIDE = 8             # FastNet's three pooled stages


def context_boxes(boxes: Tensor, size: int = PAPER_INPUT, padding: float = CONTEXT_PADDING) -> Tensor:
    """Boxes (R, 4) dilated about their centres so that, warped to ``size``, ``padding`` pixels of context
    surround the original box: each side grows by the factor size / (size - 2 padding)."""
    factor = size / (size - 2 * padding)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * factor
    return torch.cat([centre - half, centre + half], 1)


def warp_regions(images: Tensor, rois: Tensor, size: int, *, context: bool = True) -> Tensor:
    """R-CNN's anisotropic warp: each region (R, 5: image index, x1, y1, x2, y2) of ``images`` (N, C, H, W)
    bilinearly resampled to (R, C, size, size), with the paper's context padding. Outside the image
    it reads 0, which is the mean of a normalised image, as the paper fills with the image mean."""
    boxes = rois[:, 1:].to(images.dtype)
    if context:
        boxes = context_boxes(boxes, PAPER_INPUT, CONTEXT_PADDING)
    height, width = images.shape[-2:]
    theta = torch.zeros(len(rois), 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0] = (boxes[:, 2] - boxes[:, 0]) / width
    theta[:, 0, 2] = (boxes[:, 0] + boxes[:, 2]) / width - 1
    theta[:, 1, 1] = (boxes[:, 3] - boxes[:, 1]) / height
    theta[:, 1, 2] = (boxes[:, 1] + boxes[:, 3]) / height - 1
    grid = F.affine_grid(theta, [len(rois), images.shape[1], size, size], align_corners=False)
    return F.grid_sample(images[rois[:, 0].long()], grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _regions(inputs: tuple[Tensor, Tensor] | Tensor) -> tuple[Tensor, Tensor]:
    """(images, rois) as given, or for images alone one region per image: the whole image (so that
    summary, explain and the run loader can call a detector like any network)."""
    if isinstance(inputs, Tensor):
        n, _, height, width = inputs.shape
        rois = torch.zeros(n, 5, dtype=inputs.dtype, device=inputs.device)
        rois[:, 0] = torch.arange(n, device=inputs.device)
        rois[:, 3], rois[:, 4] = width, height
        return inputs, rois
    return inputs


class _Heads(nn.Module):
    """Class scores (K + 1) and class-specific box deltas (K, 4) from one feature vector per region."""

    def __init__(self, features: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.dropout = nn.Dropout(dropout)
        self.classify = nn.Linear(features, num_classes + 1)
        self.regress = nn.Linear(features, 4 * num_classes)
        if not self.regress.weight.is_meta:   # torch's meta normal_ imports torch._dynamo (cnnkit models)
            nn.init.normal_(self.regress.weight, std=0.001)   # Fast R-CNN's initialisation of the box layer
            nn.init.zeros_(self.regress.bias)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        features = self.dropout(features)
        return self.classify(features), self.regress(features).view(-1, self.num_classes, 4)


def _backbone(name: str, input_size: int, widths: tuple[int, ...], depths: tuple[int, ...]) -> nn.Module:
    return create_model(name, num_classes=1, in_chans=3, input_size=input_size, widths=list(widths),
                        depths=list(depths), head="flatten")


class RCNN(nn.Module):
    """Images and regions in, scores and box deltas out: each region warped and passed through the backbone."""

    grid = 3

    def __init__(self, num_classes: int = 6, backbone: str = "fastnet", widths: tuple[int, ...] = (32, 64, 128),
                 depths: tuple[int, ...] = (1, 2, 2), dropout: float = 0.25) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.crop = STRIDE * self.grid
        net = _backbone(backbone, self.crop, widths, depths)
        self.features = net.features
        self.pool = nn.AdaptiveMaxPool2d(self.grid)
        self.heads = _Heads(widths[-1] * self.grid ** 2, num_classes, dropout)

    def forward(self, inputs: tuple[Tensor, Tensor] | Tensor) -> tuple[Tensor, Tensor]:
        """Scores and deltas of regions (R, 5: image index, box) of images (N, 3, H, W): one pass per region."""
        images, rois = _regions(inputs)
        return self.classify_crops(warp_regions(images, rois, self.crop))

    def classify_crops(self, crops: Tensor) -> tuple[Tensor, Tensor]:
        """Scores and deltas of regions already warped to (R, 3, crop, crop)."""
        return self.heads(self.pool(self.features(crops)).flatten(1))


class FastRCNN(nn.Module):
    """Images and regions in, scores and box deltas out: one backbone pass per image, RoI pooling after."""

    grid = 3

    def __init__(self, num_classes: int = 6, backbone: str = "fastnet", widths: tuple[int, ...] = (32, 64, 128),
                 depths: tuple[int, ...] = (1, 2, 2), dropout: float = 0.25) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.features = _backbone(backbone, 128, widths, depths).features
        self.heads = _Heads(widths[-1] * self.grid ** 2, num_classes, dropout)

    def forward(self, inputs: tuple[Tensor, Tensor] | Tensor) -> tuple[Tensor, Tensor]:
        """Scores and deltas of regions (R, 5: image index, box) of images (N, 3, H, W): one pass per image."""
        images, rois = _regions(inputs)
        pooled = roi_pool(self.features(images), rois, self.grid, 1 / STRIDE)
        return self.heads(pooled.flatten(1))


@register_model(task="detect")
def rcnn(**kw: Any) -> RCNN:
    """R-CNN (Girshick et al., 2014): each proposal warped with 16-pixel context and classified by a FastNet."""
    return RCNN(**kw)


@register_model(task="detect")
def fast_rcnn(**kw: Any) -> FastRCNN:
    """Fast R-CNN (Girshick, 2015): one FastNet pass per image, RoI max pooling to 3x3, joint heads."""
    return FastRCNN(**kw)
