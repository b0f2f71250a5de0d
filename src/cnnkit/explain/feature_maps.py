"""Feature maps: what a layer's channels respond to in one image (Zeiler & Fergus, 2014, arXiv:1311.2901).

Each channel of a convolutional layer's output is a map of where its filter matched. The
maps come from ``activations``, which runs the network only as far as the layer.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.explain.class_score import check_batch
from cnnkit.explain.layers import activations
from cnnkit.modes import frozen

__all__ = ["feature_maps"]


def feature_maps(model: nn.Module, x: Tensor, layer: str, *, max_channels: int = 64) -> Tensor:
    """The first ``max_channels`` output channels of ``layer`` for images ``x``, (N, K', h, w) (Zeiler & Fergus, 2014).

    A layer with a flat output (N, K), a fully connected one, gives (N, K', 1, 1).
    """
    x = check_batch(x)
    if isinstance(max_channels, bool) or not isinstance(max_channels, int) or max_channels < 1:
        raise ConfigError(f"max_channels must be an int >= 1, got {max_channels!r}")
    with frozen(model), torch.no_grad():
        out = activations(model, x, [layer])[layer]
    if out.dim() == 2:
        out = out[:, :, None, None]                                        # (N, K, 1, 1)
    if out.dim() != 4:
        raise ConfigError(f"layer '{layer}' outputs shape {tuple(out.shape)}, not (N, K, h, w) feature maps")
    return out[:, :max_channels].detach().clone()
