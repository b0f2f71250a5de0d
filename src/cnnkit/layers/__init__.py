"""nn.Modules built on cnnkit.ops or torch: normalisation, border-mode convolutions, pools, unshared layers."""

from cnnkit.layers.conv import Conv1d, Conv2d, Conv3d
from cnnkit.layers.local import LocallyConnected1d, LocallyConnected2d
from cnnkit.layers.normalize import Normalize
from cnnkit.layers.pool import AvgPool2d, MaxPool2d

__all__ = [
    "Normalize", "Conv1d", "Conv2d", "Conv3d", "LocallyConnected1d", "LocallyConnected2d", "MaxPool2d", "AvgPool2d",
]
