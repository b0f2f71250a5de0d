"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012, "ImageNet classification with deep
convolutional neural networks", NeurIPS).

Five convolutions (11x11 stride 4, 5x5, then three 3x3), ReLU, overlapping 3x3 stride-2
max-pooling, and a classifier of two 4096-wide fully connected layers with dropout 0.5.
``alexnet`` is the single-tower form in common use (Krizhevsky, 2014, arXiv:1404.5997):
64-192-384-256-256 filters, no local response normalisation, no split over two GPUs.
At 3x224x224 and 1000 classes it has 61,100,840 parameters, and its state-dict keys are
torchvision's (``features.0``, ``features.3``, ..., ``classifier.1``, ``classifier.4``,
``classifier.6``), so torchvision's ImageNet weights load without renaming.

Small inputs: the 11x11 stride-4 stem and three pools need 63 pixels or more. Below 64
pixels (8x8 digits, 28x28 Fashion-MNIST, 32x32 CIFAR) the network keeps its layers and
their indices but changes three things: conv1 becomes 3x3 with stride 1, each pool becomes
3x3 stride 2 with padding 1 (still overlapping, halves the map rounding up) and is replaced
by the identity once the map is down to 1 pixel, and the classifier reads the whole final
map (average pool to its own size, so 1x28x28 -> 256x4x4 -> 4,096 features) instead of
stretching it to 6x6. ``hidden`` narrows the two 4096-wide layers for quick CPU runs.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from cnnkit.models._checks import check_classifier_options
from cnnkit.models._registry import register_model

__all__ = ["AlexNet", "alexnet"]

_SMALL_INPUT = 64  # pixels: below this, the small form (3x3 stem, padded pools, no 6x6 stretch)


def _pool_or_identity(side: int, small: bool) -> tuple[nn.Module, int]:
    """The max-pool at this point and the map side after it (the identity where nothing is left to pool)."""
    if not small:
        return nn.MaxPool2d(kernel_size=3, stride=2), (side - 3) // 2 + 1
    if side < 2:
        return nn.Identity(), side
    return nn.MaxPool2d(kernel_size=3, stride=2, padding=1), (side + 1) // 2


class AlexNet(nn.Module):
    """AlexNet (Krizhevsky et al., 2012), single tower: five convolutions, three overlapping pools, three fc layers."""

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        input_size: int = 224,
        dropout: float = 0.5,
        hidden: int = 4096,
    ) -> None:
        super().__init__()
        check_classifier_options(
            "alexnet", dropout=dropout, num_classes=num_classes, in_chans=in_chans, input_size=input_size, hidden=hidden
        )
        small = input_size < _SMALL_INPUT

        if small:
            conv1 = nn.Conv2d(in_chans, 64, kernel_size=3, stride=1, padding=1)
            side = input_size
        else:
            conv1 = nn.Conv2d(in_chans, 64, kernel_size=11, stride=4, padding=2)
            side = (input_size + 4 - 11) // 4 + 1
        pool1, side = _pool_or_identity(side, small)
        pool2, side = _pool_or_identity(side, small)
        pool3, side = _pool_or_identity(side, small)
        self.features = nn.Sequential(
            conv1,                                              # 0
            nn.ReLU(inplace=True),
            pool1,                                              # 2
            nn.Conv2d(64, 192, kernel_size=5, padding=2),       # 3
            nn.ReLU(inplace=True),
            pool2,                                              # 5
            nn.Conv2d(192, 384, kernel_size=3, padding=1),      # 6
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),      # 8
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),      # 10
            nn.ReLU(inplace=True),
            pool3,                                              # 12
        )
        # ImageNet form: any map is stretched or shrunk to 6x6 (torchvision's layout).
        # Small form: the map keeps its own size, so no feature is a copy of another.
        pooled = side if small else 6
        self.avgpool = nn.AdaptiveAvgPool2d(pooled)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(256 * pooled * pooled, hidden),           # 1
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),                          # 4
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),                     # 6
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))   # (N, 256, 6, 6); (N, 256, s, s) in the small form
        return self.classifier(x.flatten(1))  # (N, num_classes)


@register_model
def alexnet(**kw: Any) -> AlexNet:
    """AlexNet (Krizhevsky et al., 2012), single-tower form; 61,100,840 parameters at 224 px."""
    return AlexNet(**kw)
