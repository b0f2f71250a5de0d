"""Sliding-window geometry shared by pooling, conv_matrix and locally connected ops: argument checks, output sizes."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from cnnkit.errors import ConfigError


def as_tuple(op: str, name: str, value: int | Sequence[int], ndim: int, *, minimum: int) -> tuple[int, ...]:
    """An int or a sequence of ints, one per spatial dimension, each checked against `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, Sequence)):
        raise ConfigError(f"{op}: {name} must be an int or {ndim} ints; got {value!r}")
    values = (value,) * ndim if isinstance(value, int) else tuple(value)
    if len(values) == 1:
        values = values * ndim
    if len(values) != ndim or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"{op}: {name} must be an int or {ndim} ints; got {value!r}")
    if min(values) < minimum:
        raise ConfigError(f"{op}: {name} must be >= {minimum}; got {value!r}")
    return values


def check_input(op: str, x: Tensor, ndim: int, *, unbatched: bool = True) -> None:
    """Raise ConfigError unless x is (N, C, *spatial) with `ndim` spatial dimensions (or (C, *spatial) if allowed)."""
    names = ("L",) if ndim == 1 else ("H", "W") if ndim == 2 else ("D", "H", "W")
    batched = "(N, C, " + ", ".join(names) + ")"
    ranks = (ndim + 1, ndim + 2) if unbatched else (ndim + 2,)
    if x.dim() not in ranks:
        single = " or (C, " + ", ".join(names) + ")" if unbatched else ""
        raise ConfigError(f"{op} expects x of shape {batched}{single}; got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ConfigError(f"{op} needs a floating-point x; got {x.dtype} (convert with x.float())")


def output_size(size: int, kernel: int, stride: int, pad_left: int, pad_right: int, dilation: int,
                ceil_mode: bool = False) -> int:
    """Number of windows along one dimension, with PyTorch's ceil_mode rule; may be < 1 (caller reports)."""
    span = dilation * (kernel - 1) + 1
    padded = size + pad_left + pad_right
    out = (padded - span + (stride - 1 if ceil_mode else 0)) // stride + 1
    # PyTorch: in ceil mode the last window must start inside the input or the left padding.
    if ceil_mode and out > 0 and (out - 1) * stride >= size + pad_left:
        out -= 1
    return out


def shape_text(sizes: Sequence[int]) -> str:
    """(3, 4) -> '3x4', for messages."""
    return "x".join(str(s) for s in sizes)
