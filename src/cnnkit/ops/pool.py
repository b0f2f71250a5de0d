"""Subsampling S_delta, max pooling with arg-max routing and average pooling, each with a hand-written backward.

Lecture: pooling. A strided convolution is S_delta applied to the stride-1 convolution, and the backward
pass of S_delta is its transpose S_delta^T (scatter into zeros). Max pooling routes each output's gradient
to the one input that won its window; average pooling spreads it equally over the window. Both follow
PyTorch's conventions exactly, so they can replace torch's pools: ties go to the first maximum in row-major
scan order and a NaN wins (the last NaN if several), padded positions never win, and a window whose
values are all -inf routes to its first position inside the input.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.errors import ConfigError
from cnnkit.ops._windows import as_tuple, check_input, output_size, shape_text

__all__ = ["subsample", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d"]


class SubsampleFunction(torch.autograd.Function):
    """S_delta: keep every delta-th sample per spatial dimension; backward scatters dy into zeros (S_delta^T)."""

    @staticmethod
    def forward(ctx, x: Tensor, delta: tuple[int, ...]) -> Tensor:  # type: ignore[override]
        ctx.input_shape = x.shape
        ctx.delta = delta
        return x[(..., *(slice(None, None, d) for d in delta))].clone(memory_format=torch.contiguous_format)

    @staticmethod
    def backward(ctx, dy: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        dx = dy.new_zeros(ctx.input_shape)
        dx[(..., *(slice(None, None, d) for d in ctx.delta))] = dy
        return dx, None


def subsample(x: Tensor, delta: int | Sequence[int]) -> Tensor:
    """The lecture's subsampling S_delta on (N, C, *spatial) with 1-3 spatial dims: samples 0, delta, 2 delta, ..."""
    if x.dim() not in (3, 4, 5):
        raise ConfigError(f"subsample expects x of shape (N, C, L), (N, C, H, W) or (N, C, D, H, W); "
                          f"got shape {tuple(x.shape)}")
    return SubsampleFunction.apply(x, as_tuple("subsample", "delta", delta, x.dim() - 2, minimum=1))


@dataclass(frozen=True)
class _Windows:
    """Where the pooling windows of one call lie: per spatial dimension, input size, window parameters, outputs."""

    size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    out: tuple[int, ...]

    def pads(self) -> list[int]:
        """F.pad arguments (last dimension first): the padding, plus on the right whatever ceil mode reaches."""
        pads: list[int] = []
        for n, k, s, p, d, o in reversed(list(zip(self.size, self.kernel, self.stride, self.padding,
                                                  self.dilation, self.out))):
            reach = (o - 1) * s + d * (k - 1) + 1  # padded length the last window needs
            pads += [p, max(0, reach - n - p)]
        return pads

    def taps(self) -> list[tuple[int, ...]]:
        """Kernel taps in PyTorch's scan order: row-major, the last dimension fastest."""
        return list(itertools.product(*(range(k) for k in self.kernel)))

    def tap_slice(self, tap: tuple[int, ...]) -> tuple[object, ...]:
        """Index of the padded input giving, for every window, the value under `tap`: shape (N, C, *out)."""
        return (..., *(slice(t * d, t * d + s * (o - 1) + 1, s)
                       for t, s, d, o in zip(tap, self.stride, self.dilation, self.out)))

    def tap_offset(self, tap: tuple[int, ...]) -> int:
        """Flat offset (over the unpadded spatial dims) of `tap` from its window's start."""
        return sum(t * d * math.prod(self.size[i + 1:]) for i, (t, d) in enumerate(zip(tap, self.dilation)))

    def tap_number(self, taps: list[Tensor]) -> Tensor:
        """Per-dimension tap indices (1D each) to row-major tap numbers in the kernel, shape `out`."""
        return self._row_major(taps, self.kernel)

    def starts(self, device: torch.device) -> list[Tensor]:
        """Per dimension, the first coordinate of each window in unpadded coordinates (may be negative)."""
        return [torch.arange(o, device=device) * s - p for o, s, p in zip(self.out, self.stride, self.padding)]

    def flat(self, coords: list[Tensor]) -> Tensor:
        """Per-dimension coordinates (1D each) to flat indices over the spatial dims, shape `out`."""
        return self._row_major(coords, self.size)

    def _row_major(self, parts: list[Tensor], extents: tuple[int, ...]) -> Tensor:
        """Per-dimension indices (1D each, one per output dim) to row-major numbers over ``extents``."""
        number = torch.zeros(self.out, dtype=torch.long, device=parts[0].device)
        for i, part in enumerate(parts):
            view = [1] * len(self.out)
            view[i] = -1
            number = number + part.view(view) * math.prod(extents[i + 1:])
        return number


def _windows(op: str, x: Tensor, ndim: int, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None,
             padding: int | Sequence[int], dilation: int | Sequence[int], ceil_mode: bool) -> _Windows:
    check_input(op, x, ndim)
    kernel = as_tuple(op, "kernel_size", kernel_size, ndim, minimum=1)
    strides = kernel if stride is None else as_tuple(op, "stride", stride, ndim, minimum=1)
    pads = as_tuple(op, "padding", padding, ndim, minimum=0)
    dilations = as_tuple(op, "dilation", dilation, ndim, minimum=1)
    if any(p > k // 2 for p, k in zip(pads, kernel)):
        raise ConfigError(f"{op}: padding {pads} is more than half the kernel {kernel}; PyTorch allows at most "
                          f"kernel_size // 2 = {tuple(k // 2 for k in kernel)}: use less padding or a larger kernel")
    size = tuple(x.shape[-ndim:])
    out = tuple(output_size(n, k, s, p, p, d, ceil_mode)
                for n, k, s, p, d in zip(size, kernel, strides, pads, dilations))
    if min(out) < 1:
        span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilations))
        padded = tuple(n + 2 * p for n, p in zip(size, pads))
        raise ConfigError(f"{op}: the {shape_text(span)} window (kernel {kernel}, dilation {dilations}) is larger "
                          f"than the padded input {shape_text(padded)} (x shape {tuple(x.shape)}, padding {pads}); "
                          "use a smaller kernel_size or dilation, or more padding")
    return _Windows(size, kernel, strides, pads, dilations, out)


class MaxPoolFunction(torch.autograd.Function):
    """Max pooling with arg-max routing: dx[argmax of each window] += dy (lecture: backprop through max pooling)."""

    @staticmethod
    def forward(ctx, x: Tensor, win: _Windows) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        xp = F.pad(x, win.pads(), value=float("-inf"))  # padded positions can never win
        batch = x.shape[:2]
        # PyTorch's scan: start from the window's first tap inside the input (per dimension, `first` taps in),
        # then take a tap if it is strictly greater (so ties keep the first maximum) or NaN (NaN propagates).
        starts = win.starts(x.device)
        first = [(-c).clamp(min=0).add(d - 1).div(d, rounding_mode="floor") for c, d in zip(starts, win.dilation)]
        taps = win.taps()
        # The winning tap's number, row-major in the kernel: one byte per output while it fits.
        winner = win.tap_number(first).to(torch.uint8 if len(taps) <= 256 else torch.int32)
        winner = winner.expand(*batch, *win.out)
        best = x.new_full((*batch, *win.out), float("-inf"))
        check_nan = bool(torch.isnan(x).any())
        for number, tap in enumerate(taps):
            value = xp[win.tap_slice(tap)]  # (N, C, *out)
            take = value > best
            if check_nan:
                take |= torch.isnan(value)
            best = torch.where(take, value, best)
            winner = torch.where(take, number, winner)
        offsets = torch.tensor([win.tap_offset(tap) for tap in taps], device=x.device)
        index = win.flat(starts) + offsets[winner.long()]  # flat input index, as F.max_pool2d returns it
        # With dilation a window can lie wholly in the padding: its output is a constant -inf and it routes
        # nothing. (PyTorch's index for it may alias a real input, which then wrongly receives gradient.)
        empty = torch.zeros(win.out, dtype=torch.bool, device=x.device)
        for i, (c, t, d, n) in enumerate(zip(starts, first, win.dilation, win.size)):
            view = [1] * len(win.out)
            view[i] = -1
            empty = empty | (c + t * d >= n).view(view)
        ctx.save_for_backward(index, empty if bool(empty.any()) else None)
        ctx.input_shape = x.shape
        ctx.mark_non_differentiable(index)
        return best, index

    @staticmethod
    def backward(ctx, dy: Tensor, _dindex: Tensor | None) -> tuple[Tensor, None]:  # type: ignore[override]
        index, empty = ctx.saved_tensors
        n, c = ctx.input_shape[:2]
        dx = dy.new_zeros(n, c, math.prod(ctx.input_shape[2:]))
        if empty is not None:
            index, dy = index.masked_fill(empty, 0), dy.masked_fill(empty, 0)
        # scatter_add accumulates where windows overlap and one input wins several of them.
        dx = dx.scatter_add(2, index.reshape(n, c, -1), dy.reshape(n, c, -1))
        return dx.view(ctx.input_shape), None


def _max_pool(op: str, ndim: int, x: Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None,
              padding: int | Sequence[int], dilation: int | Sequence[int], ceil_mode: bool,
              return_indices: bool) -> Tensor | tuple[Tensor, Tensor]:
    win = _windows(op, x, ndim, kernel_size, stride, padding, dilation, ceil_mode)
    unbatched = x.dim() == ndim + 1
    y, index = MaxPoolFunction.apply(x.unsqueeze(0) if unbatched else x, win)
    if unbatched:
        y, index = y.squeeze(0), index.squeeze(0)
    return (y, index) if return_indices else y


def max_pool1d(x: Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
               padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """1D max pooling with arg-max routing (lecture: pooling); equals F.max_pool1d, indices and gradient included."""
    return _max_pool("max_pool1d", 1, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(x: Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
               padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """2D max pooling with arg-max routing (lecture: pooling); equals F.max_pool2d, indices and gradient included."""
    return _max_pool("max_pool2d", 2, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _divisor(win: _Windows, count_include_pad: bool, divisor_override: int | None, x: Tensor) -> Tensor | int:
    """What each window's sum is divided by, shape `out`: PyTorch's rule, the product of per-dimension counts."""
    if divisor_override is not None:
        return divisor_override
    divisor = x.new_ones(win.out)
    for i, (start, n, k, p) in enumerate(zip(win.starts(x.device), win.size, win.kernel, win.padding)):
        end = torch.clamp(start + k, max=n + p)  # the window may count padding, never what ceil mode adds
        count = end - start if count_include_pad else torch.clamp(end, max=n) - torch.clamp(start, min=0)
        view = [1] * len(win.out)
        view[i] = -1
        divisor = divisor * count.to(x.dtype).view(view)
    return divisor


class AvgPoolFunction(torch.autograd.Function):
    """Average pooling; backward spreads dy / window size equally over each window (lecture: pooling)."""

    @staticmethod
    def forward(ctx, x: Tensor, win: _Windows, count_include_pad: bool,  # type: ignore[override]
                divisor_override: int | None) -> Tensor:
        xp = F.pad(x, win.pads())
        total = sum(xp[win.tap_slice(tap)] for tap in win.taps())  # (N, C, *out)
        divisor = _divisor(win, count_include_pad, divisor_override, x)
        ctx.win, ctx.divisor, ctx.input_shape, ctx.padded_shape = win, divisor, x.shape, xp.shape
        return total / divisor

    @staticmethod
    def backward(ctx, dy: Tensor) -> tuple[Tensor, None, None, None]:  # type: ignore[override]
        win: _Windows = ctx.win
        share = dy / ctx.divisor
        dxp = dy.new_zeros(ctx.padded_shape)
        for tap in win.taps():
            dxp[win.tap_slice(tap)] += share
        inside = (..., *(slice(p, p + n) for p, n in zip(win.padding, win.size)))
        return dxp[inside], None, None, None


def _avg_pool(op: str, ndim: int, x: Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None,
              padding: int | Sequence[int], ceil_mode: bool, count_include_pad: bool,
              divisor_override: int | None) -> Tensor:
    win = _windows(op, x, ndim, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and (isinstance(divisor_override, bool) or divisor_override == 0):
        raise ConfigError(f"{op}: divisor_override must be a non-zero int or None; got {divisor_override!r}")
    unbatched = x.dim() == ndim + 1
    y = AvgPoolFunction.apply(x.unsqueeze(0) if unbatched else x, win, count_include_pad, divisor_override)
    return y.squeeze(0) if unbatched else y


def avg_pool1d(x: Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
               padding: int | Sequence[int] = 0, ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """1D average pooling (lecture: pooling); equals F.avg_pool1d, gradient included."""
    return _avg_pool("avg_pool1d", 1, x, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(x: Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
               padding: int | Sequence[int] = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """2D average pooling (lecture: pooling); equals F.avg_pool2d, gradient included."""
    return _avg_pool("avg_pool2d", 2, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
