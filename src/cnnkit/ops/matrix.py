"""Convolution as a matrix: A_w with A_w @ x.flatten() == conv(x).flatten(), and dx = A_w^T dy.

Lecture: convolution is a linear map, so it has a (sparse, banded) matrix A_w; back-propagation through it
is multiplication by A_w^T. The classic example is the discrete Laplacian: the second-difference kernel
[1, -2, 1] gives the tridiagonal matrix, the 5-point stencil the block-banded one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from cnnkit.errors import ConfigError
from cnnkit.ops._windows import as_tuple, output_size, shape_text
from cnnkit.ops.conv import border_padding

__all__ = ["conv_matrix"]


def conv_matrix(weight: Tensor, input_shape: Sequence[int], *, padding: str | int | Sequence[int] = "valid",
                stride: int | Sequence[int] = 1, dilation: int | Sequence[int] = 1, flip: bool = False,
                dense: bool = False) -> Tensor:
    """The convolution matrix A_w (lecture: convolution as a linear map) of one example, sparse COO unless dense.

    weight is (C_out, C_in, k) or (C_out, C_in, kh, kw) and input_shape (C_in, L) or (C_in, H, W). The result
    has shape (C_out * out_size, C_in * in_size) in C-order flattening, and computes cross-correlation as
    F.conv1d/F.conv2d do; flip=True flips the kernel, giving true convolution. Its stored entries are exactly
    the kernel taps that land inside the input (taps in the zero padding are dropped, zero weights are kept),
    so the sparsity pattern depends on the geometry alone.
    """
    if weight.dim() not in (3, 4):
        raise ConfigError(f"conv_matrix: weight must be (C_out, C_in, k) or (C_out, C_in, kh, kw); "
                          f"got shape {tuple(weight.shape)}")
    ndim = weight.dim() - 2
    input_shape = tuple(input_shape)
    if len(input_shape) != ndim + 1 or weight.shape[1] != input_shape[0]:
        wanted = "(C_in, L)" if ndim == 1 else "(C_in, H, W)"
        raise ConfigError(f"conv_matrix: input_shape {input_shape} does not fit weight {tuple(weight.shape)}: "
                          f"it must be {wanted} with C_in = {weight.shape[1]}")
    kernel = tuple(weight.shape[2:])
    strides = as_tuple("conv_matrix", "stride", stride, ndim, minimum=1)
    dilations = as_tuple("conv_matrix", "dilation", dilation, ndim, minimum=1)
    # the same border rule as cnnkit.ops.conv2d ('same' = TensorFlow's, for any stride), so A_w x = conv2d(x)
    pads = list(border_padding(input_shape[1:], kernel, strides, padding, dilations, "conv_matrix"))
    if flip:
        weight = weight.flip(tuple(range(2, weight.dim())))
    if ndim == 1:  # a 1D convolution is a 2D one over a 1-pixel-high image; the flattening agrees
        weight, input_shape = weight.unsqueeze(2), (input_shape[0], 1, input_shape[1])
        kernel, strides, dilations, pads = (1, *kernel), (1, *strides), (1, *dilations), [(0, 0), *pads]
    c_out, c_in, kh, kw = weight.shape
    _, h, w = input_shape
    out = [output_size(n, k, s, pl, pr, d) for n, k, s, (pl, pr), d in
           zip((h, w), kernel, strides, pads, dilations)]
    if min(out) < 1:
        padded = [n + pl + pr for n, (pl, pr) in zip(input_shape[1:], pads)]
        raise ConfigError(f"conv_matrix: kernel {tuple(weight.shape[2:])} with dilation {dilations} is larger than "
                          f"the padded input {shape_text(padded)} (input_shape {input_shape}); use a smaller "
                          "kernel or dilation, or more padding")
    ho, wo = out
    # Every (output entry, kernel tap) pair on a grid (C_out, Ho, Wo, C_in, kh, kw): its input pixel is
    # o * stride - pad_left + tap * dilation in each dimension.
    grid = (c_out, ho, wo, c_in, kh, kw)
    co, oh, ow, ci, th, tw = (torch.arange(n, device=weight.device).view([-1 if i == dim else 1 for i in range(6)])
                              for dim, n in enumerate(grid))
    ih = oh * strides[0] - pads[0][0] + th * dilations[0]
    iw = ow * strides[1] - pads[1][0] + tw * dilations[1]
    inside = ((ih >= 0) & (ih < h) & (iw >= 0) & (iw < w)).expand(grid)
    rows = ((co * ho + oh) * wo + ow).expand(grid)[inside]
    cols = ((ci * h + ih) * w + iw).expand(grid)[inside]
    values = weight.view(c_out, 1, 1, c_in, kh, kw).expand(grid)[inside]
    size = (c_out * ho * wo, c_in * h * w)
    if dense:
        return weight.new_zeros(size).index_put((rows, cols), values)
    # Rows ascend, and within a row the columns ascend (channel, then row, then column of the input), and no
    # (row, col) repeats: the indices are already coalesced, and in range, so torch need not check them.
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), values, size, is_coalesced=True,
                                   check_invariants=False)
