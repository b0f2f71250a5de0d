"""nn.Modules built on cnnkit.ops or torch: normalisation, locally connected layers, pools on cnnkit.ops."""

from cnnkit.layers.local import LocallyConnected1d, LocallyConnected2d
from cnnkit.layers.normalize import Normalize
from cnnkit.layers.pool import AvgPool2d, MaxPool2d

__all__ = ["Normalize", "LocallyConnected1d", "LocallyConnected2d", "MaxPool2d", "AvgPool2d"]
