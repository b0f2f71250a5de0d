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
from cnnkit.ops.local import (
    locally_connected1d,
    locally_connected2d,
    locally_connected_weight_shape,
)
from cnnkit.ops.matrix import conv_matrix
from cnnkit.ops.pool import avg_pool1d, avg_pool2d, max_pool1d, max_pool2d, subsample
from cnnkit.ops.roi import roi_pool

__all__ = [
    "ConvNdFunction", "border_padding", "conv1d", "conv2d", "conv3d", "convolve1d", "convolve2d", "convolve3d",
    "conv_matrix", "locally_connected1d", "locally_connected2d", "locally_connected_weight_shape",
    "subsample", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "roi_pool",
]
