"""nn.Modules built on cnnkit.ops or torch: normalisation, locally connected layers, pools on cnnkit.ops."""

from cnnkit.layers.local import LocallyConnected1d, LocallyConnected2d
from cnnkit.layers.normalize import Normalize

__all__ = ["Normalize", "LocallyConnected1d", "LocallyConnected2d"]
