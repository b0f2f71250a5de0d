"""RoI max pooling (Girshick, Fast R-CNN, ICCV 2015, section 2.1), with a hand-written backward.

Lecture: detection. Fast R-CNN runs the backbone once per image and pools each region of interest
from the shared feature map into a fixed H' x W' grid, so one head serves boxes of any size. A box
(x1, y1, x2, y2) in image pixels is scaled by ``spatial_scale`` and rounded to feature cells, its
extent split into H' x W' bins (bin i covers rows floor(i h / H') to ceil((i + 1) h / H')), and each
bin keeps its maximum; the backward pass routes each output's gradient to the cell that won its bin,
summed where bins of several boxes share a winner. The geometry is Caffe's, which torchvision's
``roi_pool`` also follows: ties go to the first maximum in row-major order, an empty bin gives 0.

Vectorised over boxes, channels and bins, with no loop over boxes: the maxima of every window of
2^a x 2^b cells are tabulated once per feature map by doubling (a sparse table for range-maximum
queries), and each bin's maximum is the largest of the four windows covering it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.errors import ConfigError

__all__ = ["roi_pool", "roi_bins"]

_CHUNK_ELEMENTS = 1 << 24   # boxes are pooled in groups whose gathered candidates hold at most this many values


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


def _range_max_tables(features: Tensor, longest: tuple[int, int], track: bool) -> tuple[Tensor, Tensor | None, int]:
    """Sparse tables for range-maximum queries: for every window of 2^a rows by 2^b columns, the maximum
    starting at each cell and the flat index h * W + w of its first (row-major) winner, as tables
    (A * B * N, C, H * W) of values and of indices; cells where no window fits hold -inf. Returns them and B.
    ``longest`` is the most rows and columns any bin spans: windows up to those sides are all a query needs.
    Without ``track`` (no gradient wanted) only the values are tabulated."""
    batch, channels, height, width = features.shape
    rows, cols = max(1, longest[0]).bit_length(), max(1, longest[1]).bit_length()   # sides 1, 2, 4, ... <= longest
    values = features.new_full((rows, cols, batch, channels, height, width), -math.inf)
    values[0, 0] = features
    indices = None
    if track:
        indices = torch.zeros(rows, cols, batch, channels, height, width, dtype=torch.long, device=features.device)
        indices[0, 0] = torch.arange(height * width, device=features.device).view(height, width)
    # doubling: a window of 2^(a+1) rows is two of 2^a stacked, one of 2^(b+1) columns two side by side
    for a in range(rows):
        for b in range(cols):
            if a == 0 and b == 0:
                continue
            if b == 0:
                half, step = (a - 1, 0), 1 << (a - 1)
                first, second = (slice(None, height - step), slice(None)), (slice(step, None), slice(None))
                target = (slice(None, height - step), slice(None))
            else:
                half, step = (a, b - 1), 1 << (b - 1)
                first, second = (slice(None), slice(None, width - step)), (slice(None), slice(step, None))
                target = (slice(None), slice(None, width - step))
            v1, v2 = values[half][(..., *first)], values[half][(..., *second)]
            if indices is None:
                torch.maximum(v1, v2, out=values[a, b][(..., *target)])
                continue
            i1, i2 = indices[half][(..., *first)], indices[half][(..., *second)]
            later = (v2 > v1) | ((v2 == v1) & (i2 < i1))      # ties keep the first cell in row-major order
            values[a, b][(..., *target)] = torch.where(later, v2, v1)
            indices[a, b][(..., *target)] = torch.where(later, i2, i1)
    flat = indices.view(-1, channels, height * width) if indices is not None else None
    return values.view(-1, channels, height * width), flat, cols


def _pool_chunk(features: Tensor, tables: tuple[Tensor, Tensor | None, int], rois: Tensor, output: tuple[int, int],
                spatial_scale: float) -> tuple[Tensor, Tensor | None]:
    """Pooled values (R, C, H', W') and the flat index h * W + w of each bin's winner (-1 where empty;
    None when the tables hold no indices).

    A bin of h rows and w columns is covered by four windows of 2^a x 2^b (2^a <= h < 2^(a+1)) at its
    corners, so its maximum is the largest of four table entries, and its first winner in row-major
    order the smallest index among the entries that reach that maximum."""
    values, indices, cols = tables
    batch, _, height, width = features.shape
    out_h, out_w = output
    rows_lo, rows_hi = roi_bins(rois[:, [2, 4]], height, out_h, spatial_scale)   # (R, H')
    cols_lo, cols_hi = roi_bins(rois[:, [1, 3]], width, out_w, spatial_scale)    # (R, W')
    span_h, span_w = rows_hi - rows_lo, cols_hi - cols_lo
    empty = (span_h <= 0)[:, :, None] | (span_w <= 0)[:, None, :]               # (R, H', W')
    a = torch.log2(span_h.clamp(min=1).double()).floor().long()
    b = torch.log2(span_w.clamp(min=1).double()).floor().long()
    tops = (rows_lo, (rows_hi - (1 << a)).clamp(min=0))
    lefts = (cols_lo, (cols_hi - (1 << b)).clamp(min=0))
    level = (a[:, :, None] * cols + b[:, None, :]) * batch + rois[:, 0].long()[:, None, None]   # (R, H', W')
    best = winner = None
    for top in tops:
        for left in lefts:
            cell = top.clamp(max=height - 1)[:, :, None] * width + left.clamp(max=width - 1)[:, None, :]
            value = values[level[..., None], :, cell[..., None]].squeeze(3)      # (R, H', W', C)
            if indices is None:
                best = value if best is None else torch.maximum(best, value)
                continue
            index = indices[level[..., None], :, cell[..., None]].squeeze(3)
            if best is None:
                best, winner = value, index
            else:   # a larger maximum wins; an equal one keeps the earlier cell in row-major order
                better = (value > best) | ((value == best) & (index < winner))
                best, winner = torch.where(better, value, best), torch.where(better, index, winner)
    pooled = best.masked_fill(empty[..., None], 0.0).permute(0, 3, 1, 2).contiguous()
    if winner is None:
        return pooled, None
    return pooled, winner.masked_fill(empty[..., None], -1).permute(0, 3, 1, 2).contiguous()


class RoIPoolFunction(torch.autograd.Function):
    """Forward: max over each bin of each box; backward: each bin's gradient to its winning cell, summed."""

    @staticmethod
    def forward(ctx, features: Tensor, rois: Tensor, output: tuple[int, int], spatial_scale: float,  # type: ignore[override]
                track: bool) -> Tensor:
        channels = features.shape[1]
        step = max(1, _CHUNK_ELEMENTS // max(1, channels * output[0] * output[1] * 4))
        tables = None
        if len(rois):
            height, width = features.shape[-2:]
            rows = roi_bins(rois[:, [2, 4]], height, output[0], spatial_scale)
            cols = roi_bins(rois[:, [1, 3]], width, output[1], spatial_scale)
            longest = (height, width) if features.is_meta or rois.is_meta else \
                (int((rows[1] - rows[0]).max()), int((cols[1] - cols[0]).max()))
            tables = _range_max_tables(features, longest, track)
        parts = [_pool_chunk(features, tables, rois[i:i + step], output, spatial_scale)
                 for i in range(0, len(rois), step)]
        if parts:
            pooled = torch.cat([p for p, _ in parts])
            winners = torch.cat([w for _, w in parts]) if track else torch.zeros(0, dtype=torch.long)
        else:
            pooled = features.new_zeros(0, channels, *output)
            winners = torch.zeros(0, channels, *output, dtype=torch.long, device=features.device)
        ctx.save_for_backward(rois, winners)
        ctx.shape = features.shape
        return pooled

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None, None, None]:  # type: ignore[override]
        rois, winners = ctx.saved_tensors
        batch, channels, height, width = ctx.shape
        dx = grad.new_zeros(batch * channels, height * width)
        rows = (rois[:, 0].long()[:, None] * channels + torch.arange(channels, device=grad.device))   # (R, C)
        rows = rows[:, :, None, None].expand_as(winners)
        won = winners >= 0
        dx.index_put_((rows[won], winners[won]), grad[won], accumulate=True)
        return dx.view(ctx.shape), None, None, None, None


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
    if len(rois) and not rois.is_meta and (index.min() < 0 or index.max() >= features.shape[0] or (index != index.round()).any()):
        raise ConfigError(f"roi_pool: the first column of rois must index an image in [0, {features.shape[0]})")
    track = torch.is_grad_enabled() and features.requires_grad   # winners are kept only for a backward pass
    return RoIPoolFunction.apply(features, rois.detach(), size, float(spatial_scale), track)
