"""Seeing inside a CNN: filters, feature maps, activation maximisation, inversion, class models,
saliency and attribution, DeepDream and loss landscapes.

Grouped by family: ``attribution`` (saliency, SmoothGrad, Integrated Gradients, Grad-CAM) takes
``(model, x, target)``; ``synthesis`` (activation maximisation, inversion, class models, DeepDream)
shares one gradient-ascent loop, ``ascend``, configured by ``AscentConfig``; ``landscape`` holds
loss landscapes. ``layers`` names and taps a network's layers, ``pictures`` gives its filters and
feature maps. Every function leaves the caller's model as it found it, and every one that reports
progress calls ``progress(done, total)``.
"""

from cnnkit.explain.attribution import completeness_error, gradcam, integrated_gradients, saliency, smoothgrad
from cnnkit.explain.landscape import LandscapeConfig, LandscapeResult, loss_landscape, loss_line, loss_surface
from cnnkit.explain.layers import activations, find_layer, layer_names, tap
from cnnkit.explain.pictures import feature_maps, layer_filters
from cnnkit.explain.synthesis import AscentConfig, ascend, class_model, deepdream, invert, invert_layers, maximize

__all__ = [
    "AscentConfig", "LandscapeConfig", "LandscapeResult", "activations", "ascend", "class_model",
    "completeness_error", "deepdream", "feature_maps", "find_layer", "gradcam", "integrated_gradients",
    "invert", "invert_layers", "layer_filters", "layer_names", "loss_landscape", "loss_line", "loss_surface",
    "maximize", "saliency", "smoothgrad", "tap",
]
