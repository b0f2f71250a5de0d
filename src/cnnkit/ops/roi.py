"""RoI max pooling (Girshick, Fast R-CNN, ICCV 2015, section 2.1), with a hand-written backward.

Lecture: detection. Fast R-CNN runs the backbone once per image and pools each region of interest
from the shared feature map into a fixed H' x W' grid, so one head serves boxes of any size. A box
(x1, y1, x2, y2) in image pixels is scaled by ``spatial_scale`` and rounded to feature cells, its
extent split into H' x W' bins (bin i covers rows floor(i h / H') to ceil((i + 1) h / H')), and each
bin keeps its maximum; the backward pass routes each output's gradient to the cell that won its bin,
summed where bins of several boxes share a winner. The geometry is Caffe's, which torchvision's
``roi_pool`` also follows: ties go to the first maximum in row-major order, an empty bin gives 0.

Vectorised over boxes, channels and bins: each bin's maximum is separable, first over the columns of
each column bin, then over the rows of each row bin, both as masked reductions (no loop over boxes).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from cnnkit.errors import ConfigError

__all__ = ["roi_pool", "roi_bins"]

_CHUNK_ELEMENTS = 1 << 24   # boxes are pooled in groups whose gathered maps hold at most this many values


def _round_half_away(x: Tensor) -> Tensor:
    """C's round(): halves away from zero (torch.round goes to even), as Caffe and torchvision round boxes."""
    return (torch.sign(x) * torch.floor(x.abs() + 0.5)).long()


def roi_bins(boxes: Tensor, size: int, output: int, spatial_scale: float) -> tuple[Tensor, Tensor]:
    """Start and end (exclusive) of each box's ``output`` bins along one axis of length ``size``: (R, output) each.

    ``boxes`` is (R, 2): the box's first and last coordinate on this axis, in input pixels."""
    boxes = boxes.to(torch.float64)
    start = _round_half_away(boxes[:, 0] * spatial_scale)
    end = _round_half_away(boxes[:, 1] * spatial_scale)
    extent = (end - start + 1).clamp(min=1).to(torch.float64)   # a malformed box still pools one cell
    bin_size = extent / output
    steps = torch.arange(output, dtype=torch.float64, device=boxes.device)
    lo = torch.floor(steps * bin_size[:, None]).long() + start[:, None]
    hi = torch.ceil((steps + 1) * bin_size[:, None]).long() + start[:, None]
    return lo.clamp(0, size), hi.clamp(0, size)


def _first_max(values: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Maximum of ``values`` over the last axis where ``mask`` holds, and the first index reaching it (-1: empty)."""
    masked = values.masked_fill(~mask, -math.inf)
    best = masked.amax(-1, keepdim=True)
    positions = torch.arange(values.shape[-1], device=values.device)
    hit = (masked == best) & mask
    index = torch.where(hit, positions, values.shape[-1]).amin(-1)
    empty = index == values.shape[-1]
    return best.squeeze(-1).masked_fill(empty, 0.0), index.masked_fill(empty, -1)


def _pool_chunk(features: Tensor, rois: Tensor, output: tuple[int, int], spatial_scale: float
                ) -> tuple[Tensor, Tensor]:
    """Pooled values (R, C, H', W') and the flat index h * W + w of each bin's winner (-1 where empty)."""
    _, _, height, width = features.shape
    out_h, out_w = output
    maps = features[rois[:, 0].long()]                                   # (R, C, H, W)
    rows_lo, rows_hi = roi_bins(rois[:, [2, 4]], height, out_h, spatial_scale)
    cols_lo, cols_hi = roi_bins(rois[:, [1, 3]], width, out_w, spatial_scale)
    rows = torch.arange(height, device=features.device)
    cols = torch.arange(width, device=features.device)
    in_row = (rows >= rows_lo[..., None]) & (rows < rows_hi[..., None])     # (R, H', H)
    in_col = (cols >= cols_lo[..., None]) & (cols < cols_hi[..., None])     # (R, W', W)
    # stage 1: for each column bin, the maximum of every row over the bin's columns
    column_best, column_index = _first_max(maps[:, :, :, None, :], in_col[:, None, None, :, :])   # (R, C, H, W')
    # stage 2: for each row bin, the maximum of those over the bin's rows (the first such row wins ties,
    # and within it the first column: row-major order)
    candidates = column_best.transpose(2, 3)[:, :, None]                  # (R, C, 1, W', H)
    row_ok = in_row[:, None, :, None, :] & (column_index.transpose(2, 3)[:, :, None] >= 0)
    pooled, row_index = _first_max(candidates, row_ok)                    # (R, C, H', W')
    chosen_col = torch.gather(column_index, 2, row_index.clamp(min=0))   # the winning row's winning column
    flat = torch.where(row_index >= 0, row_index * width + chosen_col, -1)
    return pooled, flat


class RoIPoolFunction(torch.autograd.Function):
    """Forward: max over each bin of each box; backward: each bin's gradient to its winning cell, summed."""

    @staticmethod
    def forward(ctx, features: Tensor, rois: Tensor, output: tuple[int, int], spatial_scale: float  # type: ignore[override]
                ) -> Tensor:
        channels, height, width = features.shape[1:]
        per_box = max(1, channels * height * width * (1 + output[1]))
        step = max(1, _CHUNK_ELEMENTS // per_box)
        parts = [_pool_chunk(features, rois[i:i + step], output, spatial_scale) for i in range(0, len(rois), step)]
        if parts:
            pooled = torch.cat([p for p, _ in parts])
            winners = torch.cat([w for _, w in parts])
        else:
            pooled = features.new_zeros(0, channels, *output)
            winners = torch.zeros(0, channels, *output, dtype=torch.long, device=features.device)
        ctx.save_for_backward(rois, winners)
        ctx.shape = features.shape
        ctx.mark_non_differentiable(winners)
        return pooled

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None, None]:  # type: ignore[override]
        rois, winners = ctx.saved_tensors
        batch, channels, height, width = ctx.shape
        dx = grad.new_zeros(batch * channels, height * width)
        rows = (rois[:, 0].long()[:, None] * channels + torch.arange(channels, device=grad.device))   # (R, C)
        rows = rows[:, :, None, None].expand_as(winners)
        won = winners >= 0
        dx.index_put_((rows[won], winners[won]), grad[won], accumulate=True)
        return dx.view(ctx.shape), None, None, None


def roi_pool(features: Tensor, rois: Tensor, output: int | tuple[int, int], spatial_scale: float = 1.0) -> Tensor:
    """Fast R-CNN's RoI max pooling of ``features`` (N, C, H, W) over ``rois`` (R, 5): rows of
    (image index, x1, y1, x2, y2) in input pixels; ``spatial_scale`` maps them onto the feature map
    (1/16 for VGG-16's conv5). Returns (R, C, H', W')."""
    if features.dim() != 4:
        raise ConfigError(f"roi_pool expects features of shape (N, C, H, W); got shape {tuple(features.shape)}")
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ConfigError(f"roi_pool expects rois of shape (R, 5): image index, x1, y1, x2, y2; "
                          f"got shape {tuple(rois.shape)}")
    size = (output, output) if isinstance(output, int) else tuple(output)
    if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in size):
        raise ConfigError(f"roi_pool: output must be an int or two ints >= 1; got {output!r}")
    if not (isinstance(spatial_scale, (int, float)) and spatial_scale > 0):
        raise ConfigError(f"roi_pool: spatial_scale must be a positive number; got {spatial_scale!r}")
    index = rois[:, 0]
    if len(rois) and (index.min() < 0 or index.max() >= features.shape[0] or (index != index.round()).any()):
        raise ConfigError(f"roi_pool: the first column of rois must index an image in [0, {features.shape[0]})")
    return RoIPoolFunction.apply(features, rois.detach(), size, float(spatial_scale))
