"""nn.Modules built on cnnkit.ops or torch: normalisation now; border-mode convolutions and blocks later."""

from cnnkit.layers.normalize import Normalize

__all__ = ["Normalize"]
