"""Locally connected (unshared) convolution: every output position has its own kernel.

Lecture: weight sharing. A convolution uses one kernel at every position; a locally connected layer keeps
the local receptive field but unshares the weights, as in DeepFace (Taigman et al., 2014), so its parameter
count out_positions * C_out * C_in * k^2 (+ bias) grows with the image. Layout: weight is
(*out_positions, C_out, C_in, *kernel), i.e. (L_out, C_out, C_in, k) in 1D and (H_out, W_out, C_out, C_in, kh, kw)
in 2D, so weight[i, j] is an ordinary conv kernel; bias is per output channel and position,
(C_out, *out_positions), or (C_out,) for a bias shared over positions. Computed as unfold (im2col) followed
by one batched matrix product over positions (einsum); the backward pass is autograd's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.errors import ConfigError
from cnnkit.ops._windows import as_tuple, check_input, output_size, shape_text

__all__ = ["locally_connected1d", "locally_connected2d", "locally_connected_weight_shape"]


def locally_connected_weight_shape(in_channels: int, out_channels: int, input_size: int | Sequence[int],
                                   kernel_size: int | Sequence[int], stride: int | Sequence[int] = 1,
                                   padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1,
                                   *, ndim: int = 2, op: str = "locally_connected") -> tuple[int, ...]:
    """Weight shape (*out_positions, C_out, C_in, *kernel) of an unshared convolution (lecture: weight sharing)."""
    size = as_tuple(op, "input_size", input_size, ndim, minimum=1)
    kernel = as_tuple(op, "kernel_size", kernel_size, ndim, minimum=1)
    strides = as_tuple(op, "stride", stride, ndim, minimum=1)
    pads = as_tuple(op, "padding", padding, ndim, minimum=0)
    dilations = as_tuple(op, "dilation", dilation, ndim, minimum=1)
    if min(in_channels, out_channels) < 1:
        raise ConfigError(f"{op}: in_channels and out_channels must be >= 1; got {in_channels}, {out_channels}")
    out = tuple(output_size(n, k, s, p, p, d) for n, k, s, p, d in zip(size, kernel, strides, pads, dilations))
    if min(out) < 1:
        padded = tuple(n + 2 * p for n, p in zip(size, pads))
        raise ConfigError(f"{op}: kernel {kernel} with dilation {dilations} is larger than the padded input "
                          f"{shape_text(padded)} (input size {size}, padding {pads}); use a smaller kernel or "
                          "more padding")
    return (*out, out_channels, in_channels, *kernel)


def _locally_connected(op: str, ndim: int, x: Tensor, weight: Tensor, bias: Tensor | None,
                       stride: int | Sequence[int], padding: int | Sequence[int],
                       dilation: int | Sequence[int]) -> Tensor:
    check_input(op, x, ndim, unbatched=False)
    if weight.dim() != 2 * ndim + 2:
        layout = "(L_out, C_out, C_in, k)" if ndim == 1 else "(H_out, W_out, C_out, C_in, kh, kw)"
        raise ConfigError(f"{op}: weight must be {layout}; got shape {tuple(weight.shape)}")
    c_out = weight.shape[ndim]
    kernel = tuple(weight.shape[ndim + 2:])
    expected = locally_connected_weight_shape(x.shape[1], c_out, tuple(x.shape[2:]), kernel, stride, padding,
                                              dilation, ndim=ndim, op=op)
    if tuple(weight.shape) != expected:
        raise ConfigError(f"{op}: weight {tuple(weight.shape)} does not fit x {tuple(x.shape)}: this input needs "
                          f"{expected} (out positions, C_out, C_in = x's channels, kernel); build the layer for "
                          f"input size {tuple(x.shape[2:])}")
    out = expected[:ndim]
    if bias is not None and tuple(bias.shape) not in ((c_out, *out), (c_out,)):
        raise ConfigError(f"{op}: bias must be (C_out, *out_positions) = {(c_out, *out)} or shared (C_out,) = "
                          f"({c_out},); got shape {tuple(bias.shape)}")
    if ndim == 1:  # a 1D input is a 1-pixel-high image
        x, weight = x.unsqueeze(2), weight.unsqueeze(0).unsqueeze(-2)
        kernel, stride, padding, dilation = [(first, as_tuple(op, "argument", v, 1, minimum=0)[0])
                                             for first, v in ((1, kernel), (1, stride), (0, padding), (1, dilation))]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (as_tuple(op, "argument", v, 2, minimum=0)
                                              for v in (kernel, stride, padding, dilation))
    # Patches as a view (im2col without the copy): (N, C_in, H_out, W_out, kh, kw).
    patches = F.pad(x, (pw, pw, ph, ph)).unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)
    patches = patches[..., ::dh, ::dw]
    # Position (h, w) applies its own kernel weight[h, w] to its own patch.
    y = torch.einsum("nchwij,hwocij->nohw", patches, weight)  # (N, C_out, H_out, W_out)
    y = y.reshape(x.shape[0], c_out, *out)
    if bias is not None:
        y = y + (bias.view(c_out, *(1,) * ndim) if bias.dim() == 1 else bias)
    return y


def locally_connected1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Sequence[int] = 1,
                        padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1) -> Tensor:
    """1D locally connected layer (lecture: unshared weights): weight (L_out, C_out, C_in, k)."""
    return _locally_connected("locally_connected1d", 1, x, weight, bias, stride, padding, dilation)


def locally_connected2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Sequence[int] = 1,
                        padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1) -> Tensor:
    """2D locally connected layer (lecture: unshared weights): weight (H_out, W_out, C_out, C_in, kh, kw)."""
    return _locally_connected("locally_connected2d", 2, x, weight, bias, stride, padding, dilation)
