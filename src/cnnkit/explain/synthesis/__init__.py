"""Synthesis: images made by gradient ascent on the input (lecture: visualising a CNN, activation
maximisation, inversion, class models, DeepDream). Every method is one objective handed to the one
loop, ``ascend`` in ascent.py, configured by ``AscentConfig`` (L2, TV, jitter, blur, norm and box
constraints, normalised steps).

- maximization.py: activation maximisation of units (Erhan et al., 2009);
- inversion.py: an image from a layer's code (Mahendran & Vedaldi, 2015, arXiv:1412.0035);
- class_models.py: L2-regularised class models (Simonyan et al., 2013, arXiv:1312.6034);
- dream.py: DeepDream with octaves (Mordvintsev, Olah & Tyka, 2015).
"""

from cnnkit.explain.synthesis.ascent import AscentConfig, ascend
from cnnkit.explain.synthesis.class_models import class_model
from cnnkit.explain.synthesis.dream import deepdream
from cnnkit.explain.synthesis.inversion import invert, invert_layers
from cnnkit.explain.synthesis.maximization import maximize

__all__ = ["AscentConfig", "ascend", "class_model", "deepdream", "invert", "invert_layers", "maximize"]
