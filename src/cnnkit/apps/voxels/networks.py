"""Voxel networks: 3D ShapeNets (Wu et al., CVPR 2015) for classification and for shape completion
from one depth view, and VoxNet (Maturana & Scherer, IROS 2015), the small classifier that followed.

3D ShapeNets' layers as published: a 30^3 occupancy grid, 48 filters of 6^3 at stride 2 (to 13^3),
160 of 5^3 at stride 2 (to 5^3), 512 of 4^3 (to 2^3), a fully connected layer of 1,200 units.
The paper trains this stack as a convolutional deep belief network, generatively, and completes
a shape by Gibbs sampling its voxels given the observed ones. cnnkit trains it by
back-propagation instead: the classifier ends in a softmax over the classes, and the completion
network mirrors the encoder with transposed convolutions to one occupancy logit per voxel, trained
with binary cross-entropy. That gives one deterministic probability per voxel where the paper
samples several completions, and needs no layer-wise pre-training. A ``width`` multiplier scales
every layer (1: the published 11.1M-parameter classifier; the shipped models are narrower).

VoxNet's layers as published: a 32^3 grid, 32 filters of 5^3 at stride 2, 32 of 3^3, 2^3 max
pooling, a fully connected layer of 128 units; leaky ReLU (0.1) and dropout.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.models import register_model

__all__ = ["ShapeNets3D", "ShapeNets3DCompletion", "VoxNet", "shapenets3d", "shapenets3d_completion", "voxnet"]


def _width(channels: int, width: float) -> int:
    return max(4, round(channels * width))


def _encoder(in_chans: int, width: float) -> tuple[nn.Sequential, int]:
    """The three published convolutions: 30^3 -> 13^3 -> 5^3 -> 2^3; returns them and the last width."""
    c1, c2, c3 = _width(48, width), _width(160, width), _width(512, width)
    layers = nn.Sequential(
        nn.Conv3d(in_chans, c1, 6, stride=2), nn.ReLU(inplace=True),
        nn.Conv3d(c1, c2, 5, stride=2), nn.ReLU(inplace=True),
        nn.Conv3d(c2, c3, 4), nn.ReLU(inplace=True),
    )
    return layers, c3


def _check(input_size: int, expected: int, name: str) -> None:
    if input_size != expected:
        raise ConfigError(f"{name} takes {expected}^3 grids as published, not {input_size}^3")


class ShapeNets3D(nn.Module):
    """3D ShapeNets' convolutional stack as a classifier: (N, 1, 30, 30, 30) occupancy -> (N, classes)."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1, input_size: int = 30, width: float = 1.0,
                 dropout: float = 0.5) -> None:
        super().__init__()
        _check(input_size, 30, "shapenets3d")
        self.width = width
        self.features, channels = _encoder(in_chans, width)
        hidden = _width(1200, width)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels * 8, hidden),
                                        nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class ShapeNets3DCompletion(nn.Module):
    """3D ShapeNets' stack for completion: (N, 2, 30, 30, 30) (channel 0: voxels seen occupied, 1: seen
    free; neither: unknown) -> (N, 1, 30, 30, 30) occupancy logits, the encoder mirrored by transposed
    convolutions through the 1,200-unit layer."""

    def __init__(self, in_chans: int = 2, input_size: int = 30, width: float = 1.0) -> None:
        super().__init__()
        _check(input_size, 30, "shapenets3d_completion")
        self.width = width
        self.features, channels = _encoder(in_chans, width)
        hidden = _width(1200, width)
        self.bottleneck = nn.Sequential(nn.Flatten(), nn.Linear(channels * 8, hidden), nn.ReLU(inplace=True),
                                        nn.Linear(hidden, channels * 8), nn.ReLU(inplace=True))
        c1, c2 = _width(48, width), _width(160, width)
        self.channels = channels
        self.decoder = nn.Sequential(
            nn.ConvTranspose3d(channels, c2, 4), nn.ReLU(inplace=True),             # 2 -> 5
            nn.ConvTranspose3d(c2, c1, 5, stride=2), nn.ReLU(inplace=True),         # 5 -> 13
            nn.ConvTranspose3d(c1, 1, 6, stride=2),                                 # 13 -> 30
        )

    def forward(self, x: Tensor) -> Tensor:
        code = self.bottleneck(self.features(x)).view(len(x), self.channels, 2, 2, 2)
        return self.decoder(code)


class VoxNet(nn.Module):
    """VoxNet: (N, 1, 32, 32, 32) occupancy -> (N, classes)."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1, input_size: int = 32, dropout: float = 0.3) -> None:
        super().__init__()
        _check(input_size, 32, "voxnet")
        self.features = nn.Sequential(
            nn.Conv3d(in_chans, 32, 5, stride=2), nn.LeakyReLU(0.1, inplace=True), nn.Dropout(0.2),   # 32 -> 14
            nn.Conv3d(32, 32, 3), nn.LeakyReLU(0.1, inplace=True),                                   # 14 -> 12
            nn.MaxPool3d(2), nn.Dropout(dropout),                                                    # 12 -> 6
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 6 ** 3, 128), nn.ReLU(inplace=True),
                                        nn.Dropout(0.4), nn.Linear(128, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


@register_model(task="voxels")
def shapenets3d(**kw: Any) -> ShapeNets3D:
    """3D ShapeNets (Wu et al., 2015) as a classifier on 30^3 grids: 48 6^3/2, 160 5^3/2, 512 4^3, fc 1,200."""
    return ShapeNets3D(**kw)


@register_model(task="voxels")
def shapenets3d_completion(**kw: Any) -> ShapeNets3DCompletion:
    """3D ShapeNets' stack for completion from one depth view: observed/free/unknown in, occupancy out."""
    return ShapeNets3DCompletion(**kw)


@register_model(task="voxels")
def voxnet(**kw: Any) -> VoxNet:
    """VoxNet (Maturana & Scherer, 2015): 32^3 grid, 32 5^3/2, 32 3^3, max pool, fc 128."""
    return VoxNet(**kw)
