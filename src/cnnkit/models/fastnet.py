"""FastNet: a small batch-normalised network that trains to high accuracy in seconds on a CPU.

Its shape follows the speed-run networks for small images (Jordan, 2024, "94% on CIFAR-10
in 3.29 seconds on a single GPU", arXiv:2404.00498; Page, 2018, the DAWNBench ResNet):
stages of conv -> max-pool -> BatchNorm (Ioffe & Szegedy, 2015, arXiv:1502.03167) -> ReLU,
each followed by ``depths[i] - 1`` further conv -> BatchNorm -> ReLU layers, and a global
max-pool into one linear layer. There is no separate stem: on a 2-core CPU the full-resolution
layers cost most, so the first convolution pools at once. A stage pools only while the map is at least 6 pixels wide,
so 8x8 digits, 28x28 Fashion-MNIST and 64x64 folders all work with the same code.

``fastnet`` (widths 32-64-128, depths 1-2-2, 0.28M parameters at 1x28x28) is the network
of ``cnnkit train --recipe fast``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.models._registry import register_model

__all__ = ["FastNet", "fastnet"]


def _conv_bn_relu(in_chans: int, out_chans: int, *, pool: bool = False) -> list[nn.Module]:
    # Pool before BatchNorm: normalising the 4x smaller map is cheaper and works as well.
    layers: list[nn.Module] = [nn.Conv2d(in_chans, out_chans, 3, padding=1, bias=False)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    layers += [nn.BatchNorm2d(out_chans), nn.ReLU(inplace=True)]
    return layers


class FastNet(nn.Module):
    """Stem and conv-pool-BN-ReLU stages with a global max-pool head (airbench-style)."""

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        input_size: int = 28,
        widths: Sequence[int] = (32, 64, 128),
        depths: Sequence[int] = (1, 2, 2),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not widths or min(widths) < 1 or len(depths) != len(widths) or min(depths) < 1:
            raise ConfigError(
                f"fastnet needs positive widths and one depth >= 1 per stage, got widths={list(widths)} "
                f"depths={list(depths)}"
            )
        layers: list[nn.Module] = []
        size, previous = input_size, in_chans
        for width, depth in zip(widths, depths):
            pool = size >= 6
            size = size // 2 if pool else size
            layers += _conv_bn_relu(previous, width, pool=pool)
            for _ in range(depth - 1):
                layers += _conv_bn_relu(width, width)
            previous = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(previous, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))  # (N, num_classes)


@register_model
def fastnet(**kw: Any) -> FastNet:
    """FastNet (after Jordan, 2024): small BatchNorm CNN for fast CPU training, widths 32-64-128."""
    return FastNet(**kw)
