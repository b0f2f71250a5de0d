"""End-point error (Baker et al., IJCV 2011; FlowNet's measure): the Euclidean distance between the
estimated and the true flow vector of each pixel, averaged over the pixels that count."""

from __future__ import annotations

from torch import Tensor

from cnnkit.errors import ConfigError

__all__ = ["end_point_error"]


def end_point_error(flow: Tensor, truth: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean |flow - truth| over the pixels where ``mask`` is true (all when None), per field.

    Fields are (..., 2, H, W); the mask (..., H, W). A field whose mask selects nothing gives NaN."""
    if flow.shape != truth.shape or flow.dim() < 3 or flow.shape[-3] != 2:
        raise ConfigError(f"flows of shape (..., 2, H, W) are compared, got {tuple(flow.shape)} and {tuple(truth.shape)}")
    error = (flow.double() - truth.double()).pow(2).sum(-3).sqrt()          # (..., H, W)
    if mask is None:
        return error.mean(dim=(-2, -1))
    if mask.shape != error.shape:
        raise ConfigError(f"the mask is {tuple(mask.shape)}, the flow's pixels {tuple(error.shape)}")
    m = mask.to(error.dtype)
    return (error * m).sum(dim=(-2, -1)) / m.sum(dim=(-2, -1))
