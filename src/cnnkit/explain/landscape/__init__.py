"""Loss landscapes: the loss of a trained network around its weights, along filter-normalised
random directions (lecture: training, the loss surface; Li et al., 2018, arXiv:1712.09913).

- directions.py: Gaussian directions with filter normalisation (``ignore='biasbn'``);
- grid.py: ``loss_landscape`` on a 1D or 2D grid (``loss_line``, ``loss_surface``), its
  ``LandscapeConfig`` and its ``LandscapeResult`` with JSON; under torchrun the grid is split
  across the ranks by the trainer's ``Distributed`` helpers.
"""

from cnnkit.explain.landscape.directions import filter_normalized_direction
from cnnkit.explain.landscape.grid import LandscapeConfig, LandscapeResult, loss_landscape, loss_line, loss_surface

__all__ = ["LandscapeConfig", "LandscapeResult", "filter_normalized_direction", "loss_landscape", "loss_line",
           "loss_surface"]
