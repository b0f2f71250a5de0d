"""VGG (Simonyan & Zisserman, 2015, "Very deep convolutional networks for large-scale image
recognition", ICLR, arXiv:1409.1556).

Only 3x3 convolutions (stride 1, padding 1) and 2x2 stride-2 max-pools: two stacked 3x3
convolutions see a 5x5 window, three see 7x7, with fewer weights and more ReLUs than one
large kernel. Five stages, 64-128-256-512-512 wide, each ended by a pool, then three fully
connected layers (4096, 4096, classes) with dropout 0.5.

Variants are the paper's configurations: ``vgg11`` (A), ``vgg13`` (B), ``vgg16`` (D) and
``vgg19`` (E), by their number of weight layers. The ``_bn`` suffix adds BatchNorm after
every convolution (Ioffe & Szegedy, 2015), which the paper predates; it lets the deep
variants train from scratch without the paper's stage-wise initialisation. At 3x224x224 and
1000 classes VGG-16 has 138,357,544 parameters. The state-dict keys are torchvision's
(``features.N`` counting every conv, norm, ReLU and pool; ``classifier.0``, ``.3``, ``.6``),
so torchvision's ImageNet weights load without renaming.

Small inputs: below 64 pixels (8x8 digits, 28x28 Fashion-MNIST, 32x32 CIFAR) two things
change. A pool whose input map is already 1 pixel is replaced by the identity (its index
stays, so the keys do not move): 28 -> 14 -> 7 -> 3 -> 1 -> 1. And the classifier reads the
final map at its own size (average pool to s x s, 512 * s * s features; s = 1 from 32 pixels
down) instead of stretching it to 7x7, which would feed 49 copies of each value into the
first fc layer. ``hidden`` narrows the two 4096-wide layers for quick CPU runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.models._checks import check_classifier_options
from cnnkit.models._registry import register_model

__all__ = ["VGG", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]

_SMALL_INPUT = 64  # pixels: below this, the small form (pools stop at 1 pixel, no 7x7 stretch)

# Convolutions per stage of the paper's configurations A, B, D and E (table 1).
_STAGES: dict[int, tuple[int, ...]] = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}
_WIDTHS = (64, 128, 256, 512, 512)


def _features(stages: Sequence[int], in_chans: int, input_size: int, batch_norm: bool) -> tuple[nn.Sequential, int]:
    """The convolutional stages and the side of the map they leave from an input_size input."""
    layers: list[nn.Module] = []
    previous, side = in_chans, input_size
    for width, depth in zip(_WIDTHS, stages):
        for _ in range(depth):
            layers.append(nn.Conv2d(previous, width, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            previous = width
        if side >= 2:
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            side //= 2
        else:
            layers.append(nn.Identity())  # nothing left to pool; keeps the later indices
    return nn.Sequential(*layers), side


def _linear(in_features: int, out_features: int) -> nn.Linear:
    """A Linear layer left uninitialised: _init_weights sets it, and the default init of
    VGG-16's 103M fc weights would double the build time for nothing."""
    device = torch.get_default_device()
    if device.type == "meta":
        # Nothing to skip on the meta device, and skip_init's empty_like there runs a Python reference
        # kernel whose first call imports sympy (half a second of `cnnkit models`).
        return nn.Linear(in_features, out_features)
    return nn.utils.skip_init(nn.Linear, in_features, out_features, device=device)


class VGG(nn.Module):
    """VGG (Simonyan & Zisserman, 2015): five stages of 3x3 convolutions and 2x2 pools, then three fc layers."""

    def __init__(
        self,
        depth: int = 16,
        batch_norm: bool = False,
        num_classes: int = 1000,
        in_chans: int = 3,
        input_size: int = 224,
        dropout: float = 0.5,
        hidden: int = 4096,
    ) -> None:
        super().__init__()
        if depth not in _STAGES:
            raise ConfigError(f"vgg depth must be one of {sorted(_STAGES)}, got {depth}")
        check_classifier_options(
            "vgg", dropout=dropout, num_classes=num_classes, in_chans=in_chans, input_size=input_size, hidden=hidden
        )

        self.features, side = _features(_STAGES[depth], in_chans, input_size, batch_norm)
        # ImageNet form: the map is stretched or shrunk to 7x7 (torchvision's layout).
        # Small form: the map keeps its own size.
        pooled = side if input_size < _SMALL_INPUT else 7
        self.avgpool = nn.AdaptiveAvgPool2d(pooled)
        self.classifier = nn.Sequential(
            _linear(512 * pooled * pooled, hidden),     # 0
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            _linear(hidden, hidden),                    # 3
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            _linear(hidden, num_classes),               # 6
        )
        self._init_weights()

    def _init_weights(self) -> None:
        # He et al. (2015) for the ReLU convolutions; small Gaussian fc weights as in the paper.
        if next(self.parameters()).is_meta:
            # A meta-device twin (cnnkit models, summary, rf) has no values to set, and torch's meta
            # normal_ is a Python reference kernel whose first call imports torch._dynamo (~1 s).
            return
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))    # (N, 512, 7, 7); (N, 512, s, s) in the small form
        return self.classifier(x.flatten(1))  # (N, num_classes)


@register_model
def vgg11(**kw: Any) -> VGG:
    """VGG-11 (Simonyan & Zisserman, 2015), configuration A: 8 convolutions, 3 fc."""
    return VGG(depth=11, **kw)


@register_model
def vgg13(**kw: Any) -> VGG:
    """VGG-13 (Simonyan & Zisserman, 2015), configuration B: 10 convolutions, 3 fc."""
    return VGG(depth=13, **kw)


@register_model
def vgg16(**kw: Any) -> VGG:
    """VGG-16 (Simonyan & Zisserman, 2015), configuration D: 13 convolutions, 3 fc; 138,357,544 parameters."""
    return VGG(depth=16, **kw)


@register_model
def vgg19(**kw: Any) -> VGG:
    """VGG-19 (Simonyan & Zisserman, 2015), configuration E: 16 convolutions, 3 fc."""
    return VGG(depth=19, **kw)


@register_model
def vgg11_bn(**kw: Any) -> VGG:
    """VGG-11 with BatchNorm after every convolution (Simonyan & Zisserman, 2015; Ioffe & Szegedy, 2015)."""
    return VGG(depth=11, batch_norm=True, **kw)


@register_model
def vgg13_bn(**kw: Any) -> VGG:
    """VGG-13 with BatchNorm after every convolution (Simonyan & Zisserman, 2015; Ioffe & Szegedy, 2015)."""
    return VGG(depth=13, batch_norm=True, **kw)


@register_model
def vgg16_bn(**kw: Any) -> VGG:
    """VGG-16 with BatchNorm after every convolution (Simonyan & Zisserman, 2015; Ioffe & Szegedy, 2015)."""
    return VGG(depth=16, batch_norm=True, **kw)


@register_model
def vgg19_bn(**kw: Any) -> VGG:
    """VGG-19 with BatchNorm after every convolution (Simonyan & Zisserman, 2015; Ioffe & Szegedy, 2015)."""
    return VGG(depth=19, batch_norm=True, **kw)
