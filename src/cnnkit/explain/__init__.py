"""Seeing inside a CNN: filters, feature maps, activation maximisation, inversion, class models,
saliency and attribution, DeepDream and loss landscapes."""

from cnnkit.explain.landscape import (
    LandscapeConfig,
    LandscapeResult,
    landscape,
    loss_line,
    loss_surface,
)
from cnnkit.explain.layers import activations, find_layer, layer_names, tap

__all__ = [
    "activations", "find_layer", "layer_names", "tap",
    "LandscapeConfig", "LandscapeResult", "landscape", "loss_line", "loss_surface",
]
