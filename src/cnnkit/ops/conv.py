"""Convolution in 1D, 2D and 3D with the lecture's hand-written backward pass.

Forward: y = x * w (cross-correlation by default, as torch.nn.functional computes it;
``flip=True`` flips the kernel in every spatial dimension, which is convolution as the
lecture defines it). Border modes: "valid" (no padding), "same" (output ceil(n / stride),
the extra pixel of an even kernel on the bottom/right, as TensorFlow defines it for any
stride), "full" ((k - 1) * dilation zeros on each side), or explicit symmetric zero padding.

Backward (lecture: back-propagation through a convolution layer), in correlation form:

    dx = full-mode correlation of dy, stride-dilated (s - 1 zeros between entries), with the
         flipped kernel, channels transposed per group, cropped back to x's extent;
    dw = correlation of the padded x with the stride-dilated dy (dw = dy * flip(x));
    db = dy summed over batch and space.

Each step is one call of torch's forward convolution, so the formula is the lecture's and the
speed is PyTorch's. The backward is itself written with differentiable tensor operations, so
second derivatives (double backward) come from autograd differentiating that formula.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.errors import ConfigError

__all__ = [
    "ConvNdFunction",
    "border_padding",
    "conv1d",
    "conv2d",
    "conv3d",
    "convolve1d",
    "convolve2d",
    "convolve3d",
]

Padding = str | int | Sequence[int]
IntOrTuple = int | Sequence[int]

_BORDERS = ("valid", "same", "full")
_FORWARD = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_LAYOUT = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _tuple(value: IntOrTuple, nd: int, name: str, op: str) -> tuple[int, ...]:
    values = (value,) * nd if isinstance(value, int) else tuple(value)
    if len(values) != nd or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"{op}: {name} must be an int or {nd} ints, got {value!r}")
    if min(values) <= 0:
        raise ConfigError(f"{op}: {name} must be positive, got {value!r}; use 1 for none")
    return values


def border_padding(
    input_size: Sequence[int],
    kernel_size: Sequence[int],
    stride: Sequence[int],
    padding: Padding,
    dilation: Sequence[int],
    op: str = "conv",
) -> tuple[tuple[int, int], ...]:
    """Zero padding (before, after) per spatial dimension for a border mode (lecture: valid, same, full)."""
    nd = len(input_size)
    if isinstance(padding, str):
        if padding not in _BORDERS:
            raise ConfigError(f"{op}: unknown padding {padding!r}; use 'valid', 'same', 'full' or ints")
        pads = []
        for n, k, s, d in zip(input_size, kernel_size, stride, dilation, strict=True):
            span = (k - 1) * d + 1
            if padding == "valid":
                pads.append((0, 0))
            elif padding == "full":
                pads.append((span - 1, span - 1))
            else:  # "same": TensorFlow's rule, output ceil(n / s), extra pixel after
                total = max((math.ceil(n / s) - 1) * s + span - n, 0)
                pads.append((total // 2, total - total // 2))
        return tuple(pads)
    values = (padding,) * nd if isinstance(padding, int) else tuple(padding)
    if len(values) != nd or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"{op}: padding must be 'valid', 'same', 'full', an int or {nd} ints, got {padding!r}")
    if min(values) < 0:
        raise ConfigError(f"{op}: padding must be >= 0, got {padding!r}; crop the input instead")
    return tuple((p, p) for p in values)


def _split_padding(pads: Sequence[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Split (before, after) pads into a symmetric part for the conv call and an F.pad remainder.

    The remainder may be negative (a crop); it is in F.pad's order, last dimension first.
    """
    common = [max(min(lo, hi), 0) for lo, hi in pads]
    rest: list[int] = []
    for (lo, hi), c in zip(reversed(pads), reversed(common), strict=True):
        rest += [lo - c, hi - c]
    return common, rest


def _pad_and_conv(t: Tensor, w: Tensor, pads: Sequence[tuple[int, int]], **kw: Any) -> Tensor:
    common, rest = _split_padding(pads)
    if any(rest):
        t = F.pad(t, rest)
    return _FORWARD[t.dim() - 2](t, w, padding=common, **kw)


def _dilate(dy: Tensor, stride: Sequence[int]) -> Tensor:
    """Insert s - 1 zeros between the entries of dy along each spatial dimension (stride s)."""
    if all(s == 1 for s in stride):
        return dy
    size = [(n - 1) * s + 1 for n, s in zip(dy.shape[2:], stride, strict=True)]
    out = dy.new_zeros(*dy.shape[:2], *size)
    out[(slice(None), slice(None), *(slice(None, None, s) for s in stride))] = dy
    return out


def _grad_input(
    dy: Tensor, weight: Tensor, x_shape: Sequence[int], stride: Sequence[int],
    pads: Sequence[tuple[int, int]], dilation: Sequence[int], groups: int, flipped: bool,
) -> Tensor:
    """dx = full correlation of the stride-dilated dy with flip(w), channels transposed per group.

    ``weight`` is the parameter; with ``flipped`` the forward used flip(weight), whose flip is weight.
    """
    c_out, c_in_g, *kernel = weight.shape
    spatial = list(range(2, weight.dim()))
    # (C_out, C_in/g, k...) -> (C_in, C_out/g, k...): group by group, swap the channel roles.
    w_t = weight.reshape(groups, c_out // groups, c_in_g, *kernel).transpose(1, 2)
    w_t = w_t.reshape(groups * c_in_g, c_out // groups, *kernel)
    if not flipped:
        w_t = w_t.flip(spatial)
    out_pads = []
    for n, o, k, s, d, (lo, hi) in zip(x_shape[2:], dy.shape[2:], kernel, stride, dilation, pads, strict=True):
        span = (k - 1) * d + 1
        skipped = n + lo + hi - ((o - 1) * s + span)  # trailing input rows the stride never reached
        # Full mode pads span - 1 each side; then crop to x's own rows [lo, lo + n).
        out_pads.append((span - 1 - lo, span - 1 + skipped - hi))
    return _pad_and_conv(_dilate(dy, stride), w_t, out_pads, dilation=tuple(dilation), groups=groups)


def _grad_weight(
    dy: Tensor, x: Tensor, kernel: Sequence[int], stride: Sequence[int],
    pads: Sequence[tuple[int, int]], dilation: Sequence[int], groups: int,
) -> Tensor:
    """dw = correlation of the padded x with dy, dy's entries spaced by the stride (dw = dy * flip(x))."""
    n, c_in, *size = x.shape
    c_in_g = c_in // groups
    if n == 0:  # an empty batch sums nothing; torch's conv cannot take zero input channels
        return x.new_zeros(dy.shape[1], c_in_g, *kernel)
    # Batch becomes the summed channel axis: x -> (C_in/g, g*N, ...), dy -> (C_out, N, ...).
    x_t = x.reshape(n, groups, c_in_g, *size).transpose(0, 2).reshape(c_in_g, groups * n, *size)
    dy_t = dy.transpose(0, 1)
    used_pads = []
    for m, o, k, s, d, (lo, hi) in zip(size, dy.shape[2:], kernel, stride, dilation, pads, strict=True):
        skipped = m + lo + hi - ((o - 1) * s + (k - 1) * d + 1)
        used_pads.append((lo, hi - skipped))  # drop rows no output read, so exactly k taps remain
    # Kernel dilation becomes the stride of this correlation, the forward stride its dilation.
    dw = _pad_and_conv(x_t, dy_t, used_pads, stride=tuple(dilation), dilation=tuple(stride), groups=groups)
    return dw.transpose(0, 1)  # (C_out, C_in/g, k...)


class ConvNdFunction(torch.autograd.Function):
    """N-D convolution with hand-written backward: dx = dy * flip(w), dw = dy * flip(x) (lecture: backprop).

    Second derivatives are autograd's derivative of this hand-written backward.
    """

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple[int, ...],
        pads: tuple[tuple[int, int], ...], dilation: tuple[int, ...], groups: int, flip: bool,
    ) -> Tensor:
        w = weight.flip(list(range(2, weight.dim()))) if flip else weight
        ctx.save_for_backward(x, weight)
        ctx.conv = (stride, pads, dilation, groups, flip)
        return _pad_and_conv(x, w, pads, bias=bias, stride=stride, dilation=dilation, groups=groups)

    @staticmethod
    def backward(ctx: Any, dy: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        stride, pads, dilation, groups, flip = ctx.conv
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = _grad_input(dy, weight, x.shape, stride, pads, dilation, groups, flip)
        if ctx.needs_input_grad[1]:
            dw = _grad_weight(dy, x, weight.shape[2:], stride, pads, dilation, groups)
            if flip:  # y depends on flip(w), so dL/dw is the flipped gradient
                dw = dw.flip(list(range(2, dw.dim())))
        if ctx.needs_input_grad[2]:
            db = dy.sum(dim=[0, *range(2, dy.dim())])
        return dx, dw, db, None, None, None, None, None


def _conv(
    nd: int, op: str, x: Tensor, weight: Tensor, bias: Tensor | None, stride: IntOrTuple,
    padding: Padding, dilation: IntOrTuple, groups: int, flip: bool,
) -> Tensor:
    if not isinstance(x, Tensor) or not isinstance(weight, Tensor):
        raise ConfigError(f"{op}: x and weight must be tensors")
    if x.dim() != nd + 2:
        hint = "; add a batch dimension with x.unsqueeze(0)" if x.dim() == nd + 1 else ""
        raise ConfigError(f"{op} expects x of shape {_LAYOUT[nd]}, got {_shape(x)}{hint}")
    if weight.dim() != nd + 2:
        raise ConfigError(
            f"{op} expects weight of shape (out_channels, in_channels / groups, {nd} kernel sizes), "
            f"got {_shape(weight)}"
        )
    if torch.is_autocast_enabled(x.device.type):  # as torch's convolutions do under autocast: compute in
        low = torch.get_autocast_dtype(x.device.type)  # the autocast dtype; autograd casts the gradients back
        x, weight = x.to(low), weight.to(low)
        bias = bias.to(low) if bias is not None else None
        with torch.autocast(x.device.type, enabled=False):
            return _conv(nd, op, x, weight, bias, stride, padding, dilation, groups, flip)
    if not x.is_floating_point() or x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        raise ConfigError(
            f"{op}: x, weight and bias need one floating dtype, got {x.dtype}, {weight.dtype}"
            f"{'' if bias is None else ', ' + str(bias.dtype)}; convert them with .to(dtype)"
        )
    if not isinstance(groups, int) or isinstance(groups, bool) or groups <= 0:
        raise ConfigError(f"{op}: groups must be a positive int, got {groups!r}")
    c_out, c_in_g = weight.shape[:2]
    if c_out % groups:
        raise ConfigError(f"{op}: weight {_shape(weight)} has {c_out} output channels, not divisible by groups={groups}")
    if x.shape[1] != c_in_g * groups:
        raise ConfigError(
            f"{op}: x {_shape(x)} has {x.shape[1]} channels but weight {_shape(weight)} with groups={groups} "
            f"expects {c_in_g * groups}; weight.shape[1] must be in_channels / groups"
        )
    if bias is not None and _shape(bias) != (c_out,):
        raise ConfigError(f"{op}: bias must have shape ({c_out},) for weight {_shape(weight)}, got {_shape(bias)}")
    strides = _tuple(stride, nd, "stride", op)
    dilations = _tuple(dilation, nd, "dilation", op)
    kernel = tuple(weight.shape[2:])
    pads = border_padding(tuple(x.shape[2:]), kernel, strides, padding, dilations, op)
    for n, k, d, (lo, hi) in zip(x.shape[2:], kernel, dilations, pads, strict=True):
        if (k - 1) * d + 1 > n + lo + hi or k == 0:
            raise ConfigError(
                f"{op}: kernel {kernel} (dilation {dilations}) is larger than the padded input: "
                f"x {_shape(x)} with padding {padding!r}; use padding='same' or 'full', or a smaller kernel"
            )
    return ConvNdFunction.apply(x, weight, bias, strides, pads, dilations, groups, bool(flip))


def conv1d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
    padding: Padding = "valid", dilation: IntOrTuple = 1, groups: int = 1, *, flip: bool = False,
) -> Tensor:
    """1D convolution layer (lecture: the convolution operator); cross-correlation unless flip=True."""
    return _conv(1, "conv1d", x, weight, bias, stride, padding, dilation, groups, flip)


def conv2d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
    padding: Padding = "valid", dilation: IntOrTuple = 1, groups: int = 1, *, flip: bool = False,
) -> Tensor:
    """2D convolution layer (lecture: the convolution operator); cross-correlation unless flip=True."""
    return _conv(2, "conv2d", x, weight, bias, stride, padding, dilation, groups, flip)


def conv3d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
    padding: Padding = "valid", dilation: IntOrTuple = 1, groups: int = 1, *, flip: bool = False,
) -> Tensor:
    """3D convolution layer for volumes (lecture: the convolution operator); cross-correlation unless flip=True."""
    return _conv(3, "conv3d", x, weight, bias, stride, padding, dilation, groups, flip)


def convolve1d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
    padding: Padding = "valid", dilation: IntOrTuple = 1, groups: int = 1,
) -> Tensor:
    """True 1D convolution, kernel flipped (lecture: (x * w)[i] = sum_u x[i - u] w[u])."""
    return _conv(1, "convolve1d", x, weight, bias, stride, padding, dilation, groups, True)


def convolve2d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
    padding: Padding = "valid", dilation: IntOrTuple = 1, groups: int = 1,
) -> Tensor:
    """True 2D convolution, kernel flipped in both axes (lecture: the convolution operator)."""
    return _conv(2, "convolve2d", x, weight, bias, stride, padding, dilation, groups, True)


def convolve3d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
    padding: Padding = "valid", dilation: IntOrTuple = 1, groups: int = 1,
) -> Tensor:
    """True 3D convolution, kernel flipped in all three axes (lecture: the convolution operator)."""
    return _conv(3, "convolve3d", x, weight, bias, stride, padding, dilation, groups, True)
