"""Inception blocks: channels add up, and each branch, the block and the aux head equal torch.nn.functional by hand."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnnkit.layers import ConvBlock, Inception, InceptionAux


def _unit(x: torch.Tensor, block: ConvBlock, padding: int = 0) -> torch.Tensor:
    """conv (no bias) -> inference BatchNorm with eps 0.001 (torchvision's GoogLeNet) -> ReLU, on the block's weights."""
    assert block.conv.bias is None
    y = F.conv2d(x, block.conv.weight, padding=padding)
    bn = block.bn
    return F.relu(F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=0.001))


def test_inception_output_channels_are_the_sum_of_the_branches() -> None:
    block = Inception(12, 3, 4, 5, 2, 6, 7).eval()
    x = torch.randn(2, 12, 5, 5)
    with torch.no_grad():
        y = block(x)
        branches = [block.branch1(x), block.branch2(x), block.branch3(x), block.branch4(x)]
    assert [b.shape[1] for b in branches] == [3, 5, 6, 7]
    assert y.shape == (2, 3 + 5 + 6 + 7, 5, 5) == (2, block.out_chans, 5, 5)
    torch.testing.assert_close(y, torch.cat(branches, dim=1))  # concatenated in branch order


def test_inception_equals_its_four_branches_by_hand(randomise_norms) -> None:
    torch.manual_seed(0)
    block = Inception(12, 3, 4, 5, 2, 6, 7).double().eval()
    randomise_norms(block)
    x = torch.randn(2, 12, 7, 7, dtype=torch.float64)
    by_hand = [
        _unit(x, block.branch1),                                               # 1x1
        _unit(_unit(x, block.branch2[0]), block.branch2[1], padding=1),        # 1x1 -> 3x3
        _unit(_unit(x, block.branch3[0]), block.branch3[1], padding=1),        # 1x1 -> "5x5", a 3x3
        _unit(F.max_pool2d(x, 3, stride=1, padding=1, ceil_mode=True), block.branch4[1]),  # pool -> 1x1
    ]
    assert [b.shape[1] for b in by_hand] == [3, 5, 6, 7]
    with torch.no_grad():
        torch.testing.assert_close(block(x), torch.cat(by_hand, dim=1))


def test_inception_aux_equals_functional_by_hand(randomise_norms) -> None:
    torch.manual_seed(1)
    aux = InceptionAux(12, 5).double().eval()
    randomise_norms(aux)
    assert aux.dropout.p == 0.7  # the paper's dropout ratio
    x = torch.randn(2, 12, 9, 9, dtype=torch.float64)
    y = _unit(F.adaptive_avg_pool2d(x, 4), aux.conv)           # (2, 128, 4, 4)
    y = F.relu(F.linear(y.flatten(1), aux.fc1.weight, aux.fc1.bias))  # (2, 1024)
    expected = F.linear(y, aux.fc2.weight, aux.fc2.bias)       # dropout is the identity in eval mode
    with torch.no_grad():
        torch.testing.assert_close(aux(x), expected)
