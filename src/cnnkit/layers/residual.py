"""Residual blocks of ResNet (He et al., 2016, "Deep residual learning for image recognition", arXiv:1512.03385).

A block computes y = relu(F(x) + shortcut(x)): it learns the residual F(x) = H(x) - x, so an
extra block can at worst learn F = 0 and copy its input. The shortcut is the identity, or a
strided 1x1 convolution with BatchNorm (the paper's option B) where the block changes the width
or the resolution. ``Bottleneck`` strides its 3x3 convolution, not its first 1x1 ("ResNet v1.5").
Attribute names (``conv1``, ``bn1``, ``downsample.0``, ...) are torchvision's, so its weights load by name.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["projection_shortcut", "BasicBlock", "Bottleneck"]


def projection_shortcut(in_chans: int, out_chans: int, stride: int) -> nn.Module | None:
    """Projection shortcut (He et al., 2016, option B) where the shape changes; None means the identity."""
    if stride == 1 and in_chans == out_chans:
        return None
    return nn.Sequential(
        nn.Conv2d(in_chans, out_chans, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(out_chans),
    )


class BasicBlock(nn.Module):
    """Residual block of ResNet-18/34 (He et al., 2016): relu(bn(conv3x3(relu(bn(conv3x3(x))))) + x)."""

    expansion = 1

    def __init__(self, in_chans: int, width: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = projection_shortcut(in_chans, width, stride)

    def last_norm(self) -> nn.BatchNorm2d:
        return self.bn2

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + shortcut)


class Bottleneck(nn.Module):
    """Bottleneck block of ResNet-50/101/152 (He et al., 2016): 1x1 reduce, 3x3 (strided, v1.5), 1x1 expand x4."""

    expansion = 4

    def __init__(self, in_chans: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_chans = width * self.expansion
        self.conv1 = nn.Conv2d(in_chans, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_chans, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_chans)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = projection_shortcut(in_chans, out_chans, stride)

    def last_norm(self) -> nn.BatchNorm2d:
        return self.bn3

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + shortcut)
