"""MBConv with squeeze-excitation against torch.nn.functional on the block's own weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnkit.layers import MBConvBlock


def _bn(x: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=1e-5)


@pytest.mark.parametrize(("in_chans", "out_chans", "stride"), [(16, 16, 1), (8, 16, 1), (16, 32, 2)])
def test_mbconv_equals_functional_reference(randomise_norms, in_chans: int, out_chans: int, stride: int) -> None:
    torch.manual_seed(0)
    block = MBConvBlock(in_chans, out_chans, stride=stride).double().eval()
    randomise_norms(block)
    mid, reduced = 4 * out_chans, out_chans // 4
    x = torch.randn(2, in_chans, 7, 7, dtype=torch.float64)
    # Pre-norm, 1x1 expansion x4, 3x3 depthwise (strided), GELU after each.
    y = F.gelu(_bn(F.conv2d(_bn(x, block.norm), block.expand[0].weight), block.expand[1]))  # (2, mid, 7, 7)
    dw = block.depthwise[0].weight
    assert dw.shape == (mid, 1, 3, 3)
    y = F.gelu(_bn(F.conv2d(y, dw, stride=stride, padding=1, groups=mid), block.depthwise[1]))
    # Squeeze-excitation (Hu et al., 2018): a sigmoid gate per channel from the channel means.
    se = block.se
    assert se.reduce.weight.shape == (reduced, mid, 1, 1)
    gate = F.conv2d(F.gelu(F.conv2d(y.mean((2, 3), keepdim=True), se.reduce.weight, se.reduce.bias)),
                    se.expand.weight, se.expand.bias)
    y = F.conv2d(y * torch.sigmoid(gate), block.project.weight, block.project.bias)
    if stride == 1 and in_chans == out_chans:
        shortcut = x
    else:  # Proj(Pool(x)): 2x2 average pool (ceil mode) where the block halves, then a 1x1 with bias
        pooled = F.avg_pool2d(x, 2, stride=2, ceil_mode=True) if stride == 2 else x
        shortcut = F.conv2d(pooled, block.shortcut[1].weight, block.shortcut[1].bias)
    with torch.no_grad():
        out = block(x)
    assert out.shape == (2, out_chans, -(-7 // stride), -(-7 // stride))
    torch.testing.assert_close(out, shortcut + y)


def test_downsampling_mbconv_pools_the_shortcut() -> None:
    mb = MBConvBlock(16, 32, stride=2)
    assert isinstance(mb.shortcut[0], nn.AvgPool2d) and isinstance(mb.shortcut[1], nn.Conv2d)
    assert mb(torch.randn(2, 16, 8, 8)).shape == (2, 32, 4, 4)
