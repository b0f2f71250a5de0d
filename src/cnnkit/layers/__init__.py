"""nn.Modules built on cnnkit.ops or torch: normalisation, border-mode convolutions; blocks later."""

from cnnkit.layers.conv import Conv1d, Conv2d, Conv3d
from cnnkit.layers.normalize import Normalize

__all__ = ["Conv1d", "Conv2d", "Conv3d", "Normalize"]
