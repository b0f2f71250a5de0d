"""Inception v1 blocks (Szegedy et al., 2015, "Going deeper with convolutions", arXiv:1409.4842), with BatchNorm.

An Inception block runs four branches side by side on the same input and concatenates their
outputs along the channels: a 1x1 convolution; a 1x1 reduction then a 3x3; a 1x1 reduction then
a "5x5"; a 3x3 max-pool then a 1x1 projection. The 1x1 reductions shrink the channels before the
expensive convolutions. The layout is torchvision's: every convolution is followed by BatchNorm
(Ioffe & Szegedy, 2015, arXiv:1502.03167, eps 0.001) and has no bias, and the "5x5" branch uses a
3x3 kernel; attribute names (``branch2.1.conv``, ``fc2``, ...) follow it, so its weights load by name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ConvBlock", "Inception", "InceptionAux"]


class ConvBlock(nn.Module):
    """Convolution (no bias) -> BatchNorm (eps 0.001) -> ReLU: GoogLeNet's unit with batch normalisation."""

    def __init__(self, in_chans: int, out_chans: int, kernel_size: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chans, out_chans, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_chans, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Inception(nn.Module):
    """Inception block (Szegedy et al., 2015): 1x1 | 1x1 -> 3x3 | 1x1 -> "5x5" (3x3) | max-pool -> 1x1, concatenated."""

    def __init__(
        self,
        in_chans: int,
        ch1x1: int,
        ch3x3_reduce: int,
        ch3x3: int,
        ch5x5_reduce: int,
        ch5x5: int,
        pool_proj: int,
    ) -> None:
        super().__init__()
        self.branch1 = ConvBlock(in_chans, ch1x1, 1)
        self.branch2 = nn.Sequential(ConvBlock(in_chans, ch3x3_reduce, 1), ConvBlock(ch3x3_reduce, ch3x3, 3, padding=1))
        # The paper's 5x5; the standard layout (and its weights) use a 3x3 kernel here.
        self.branch3 = nn.Sequential(ConvBlock(in_chans, ch5x5_reduce, 1), ConvBlock(ch5x5_reduce, ch5x5, 3, padding=1))
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), ConvBlock(in_chans, pool_proj, 1)
        )
        self.out_chans = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: Tensor) -> Tensor:
        branches = (self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x))
        return torch.cat(branches, dim=1)  # (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)


class InceptionAux(nn.Module):
    """Auxiliary classifier (Szegedy et al., 2015): avg-pool to 4x4, 1x1 conv 128, fc 1024, dropout 0.7, fc classes."""

    def __init__(self, in_chans: int, num_classes: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.conv = ConvBlock(in_chans, 128, 1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(F.adaptive_avg_pool2d(x, 4))  # (N, 128, 4, 4); the paper's 5x5 avg-pool, stride 3, at 14x14
        x = F.relu(self.fc1(x.flatten(1)), inplace=True)  # (N, 1024)
        return self.fc2(self.dropout(x))  # (N, num_classes)
