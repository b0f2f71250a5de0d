"""Seeing inside a CNN: filters, feature maps, activation maximisation, inversion, class models,
saliency and attribution, DeepDream and loss landscapes."""

from cnnkit.explain.ascent import AscentConfig, ascend
from cnnkit.explain.class_model import class_model
from cnnkit.explain.dream import deepdream
from cnnkit.explain.invert import invert, invert_layers
from cnnkit.explain.layers import activations, find_layer, layer_names, tap
from cnnkit.explain.maximize import maximize

__all__ = ["AscentConfig", "activations", "ascend", "class_model", "deepdream", "find_layer", "invert",
           "invert_layers", "layer_names", "maximize", "tap"]
