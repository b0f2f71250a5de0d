"""Seeing inside a CNN: filters, feature maps, activation maximisation, inversion, class models,
saliency and attribution, DeepDream and loss landscapes.

Attribution methods take ``(model, x, target)``; synthesis methods (activation maximisation,
inversion, class models, DeepDream) share one gradient-ascent loop, ``ascend``, configured by
``AscentConfig``. Every function leaves the caller's model as it found it.
"""

from cnnkit.explain.ascent import AscentConfig, ascend
from cnnkit.explain.class_model import class_model
from cnnkit.explain.dream import deepdream
from cnnkit.explain.feature_maps import feature_maps
from cnnkit.explain.filters import layer_filters
from cnnkit.explain.gradcam import gradcam
from cnnkit.explain.integrated_gradients import completeness_error, integrated_gradients
from cnnkit.explain.invert import invert, invert_layers
from cnnkit.explain.landscape import LandscapeConfig, LandscapeResult, landscape, loss_line, loss_surface
from cnnkit.explain.layers import activations, find_layer, layer_names, tap
from cnnkit.explain.maximize import maximize
from cnnkit.explain.saliency import saliency
from cnnkit.explain.smoothgrad import smoothgrad

__all__ = [
    "AscentConfig", "LandscapeConfig", "LandscapeResult", "activations", "ascend", "class_model",
    "completeness_error", "deepdream", "feature_maps", "find_layer", "gradcam", "integrated_gradients",
    "invert", "invert_layers", "landscape", "layer_filters", "layer_names", "loss_line", "loss_surface",
    "maximize", "saliency", "smoothgrad", "tap",
]
