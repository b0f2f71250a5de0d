"""The lecture's operators as explicit maths, each a torch.autograd.Function with a hand-written backward, verified against PyTorch."""

from cnnkit.ops.conv import (
    ConvNdFunction,
    border_padding,
    conv1d,
    conv2d,
    conv3d,
    convolve1d,
    convolve2d,
    convolve3d,
)

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
