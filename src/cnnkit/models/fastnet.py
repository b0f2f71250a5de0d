"""FastNet: a small batch-normalised network that trains to high accuracy in seconds on a CPU.

Its shape follows the speed-run networks for small images (Jordan, 2024, "94% on CIFAR-10
in 3.29 seconds on a single GPU", arXiv:2404.00498; Page, 2018, the DAWNBench ResNet):
stages of conv -> max-pool -> BatchNorm (Ioffe & Szegedy, 2015, arXiv:1502.03167) -> ReLU,
each followed by ``depths[i] - 1`` further conv -> BatchNorm -> ReLU layers, and a global
max-pool into one linear layer. There is no separate stem: on a 2-core CPU the full-resolution
layers cost most, so the first convolution pools at once. A stage pools only while the map is at least 6 pixels wide,
so 8x8 digits, 28x28 Fashion-MNIST and 64x64 folders all work with the same code.

``fastnet`` (widths 16-32-64, depths 1-2-2, a flattened 3x3 map into the classifier) is the
network of ``cnnkit train --recipe fast``. It is narrow on purpose: on two CPU cores, more
epochs of a narrow network beat fewer epochs of a wide one at every time budget we measured
(Fashion-MNIST, 25 s: widths 16-32-64 reach 91.8% in 5 epochs, 24-48-96 90.7% in 2).
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
    """Conv-pool-BN-ReLU stages, then a max-pool to a 3x3 grid (or 1x1) and one linear layer."""

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        input_size: int = 28,
        widths: Sequence[int] = (16, 32, 64),
        depths: Sequence[int] = (1, 2, 2),
        head: str = "flatten",
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
        if head not in ("maxpool", "flatten"):
            raise ConfigError(f"fastnet head must be 'maxpool' or 'flatten', got {head!r}")
        # 'flatten' keeps where in a 3x3 grid a feature fired (sleeve or body), for 9x the
        # classifier weights; at 28x28 the final map is 3x3 already. 'maxpool' keeps only whether.
        grid = 1 if head == "maxpool" else 3
        pooled = nn.Identity() if size == grid else nn.AdaptiveMaxPool2d(grid)
        features = previous * grid * grid
        self.head = nn.Sequential(pooled, nn.Flatten(), nn.Dropout(dropout), nn.Linear(features, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))  # (N, num_classes)


@register_model
def fastnet(**kw: Any) -> FastNet:
    """FastNet (after Jordan, 2024): small BatchNorm CNN for fast CPU training, widths 16-32-64."""
    return FastNet(**kw)
