"""Pictures of a network: its filters and its feature maps, as tensors that viz/ draws.

A convolution's filters (Krizhevsky et al., 2012; Zeiler & Fergus, 2014, arXiv:1311.2901):
first-layer kernels live in image space and read directly as edge, colour and Gabor-like
detectors (RGB pictures for 3 input channels). Deeper kernels act on feature maps, so they
are shown one tile per (filter, input channel) pair, capped at ``max_filters`` x ``max_inputs``
so a 512 x 512 layer stays a readable figure.

Feature maps (Zeiler & Fergus, 2014): each channel of a convolutional layer's output is a map
of where its filter matched in one image. The maps come from ``activations``, which runs the
network only as far as the layer.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.explain.attribution.class_score import check_batch
from cnnkit.explain.layers import activations, find_layer, network_of
from cnnkit.modes import frozen

__all__ = ["conv_layers", "feature_maps", "layer_filters"]


def conv_layers(model: nn.Module) -> list[str]:
    """Names of the network's layers with a 4-D (O, I, kh, kw) weight: its convolutions (LeCun et al., 1998)."""
    return [name for name, module in network_of(model).named_modules()
            if name and isinstance(getattr(module, "weight", None), Tensor) and module.weight.dim() == 4]


def layer_filters(model: nn.Module, layer: str | None = None, *, max_filters: int = 64,
                  max_inputs: int = 16) -> Tensor:
    """The first ``max_filters`` kernels over the first ``max_inputs`` input channels of ``layer``, (O, I, kh, kw) (Zeiler & Fergus, 2014).

    ``layer`` defaults to the first convolution. A first layer keeps all its input channels
    (1 or 3), so an RGB filter stays an RGB picture. Returns a detached CPU copy.
    """
    for name, value in (("max_filters", max_filters), ("max_inputs", max_inputs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
    convs = conv_layers(model)
    if not convs:
        raise ConfigError("this network has no convolution (no layer with a 4-D weight) to show filters of")
    name = layer if layer is not None else convs[0]
    module, _ = find_layer(model, name)
    weight = getattr(module, "weight", None)
    if not isinstance(weight, Tensor) or weight.dim() != 4:
        raise ConfigError(f"layer '{name}' has no (O, I, kh, kw) convolution weight; layers with filters: "
                          f"{', '.join(convs[:40])}")
    inputs = weight.shape[1] if name == convs[0] and weight.shape[1] in (1, 3) else max_inputs
    return weight.detach()[:max_filters, :inputs].float().cpu().clone()    # (O', I', kh, kw)


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
