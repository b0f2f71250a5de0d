"""Residual blocks: against a brute-force convolution in eval mode and torch.nn.functional in training mode."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnnkit.layers import BasicBlock, Bottleneck, projection_shortcut


def _conv_reference(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
    """Convolution as a sum over kernel taps of strided, shifted input windows (no conv routine)."""
    n, _, h, width = x.shape
    k = w.shape[-1]
    padded = F.pad(x, (padding,) * 4)
    out_h, out_w = (h + 2 * padding - k) // stride + 1, (width + 2 * padding - k) // stride + 1
    out = x.new_zeros(n, w.shape[0], out_h, out_w)
    for i in range(k):
        for j in range(k):
            window = padded[:, :, i : i + stride * (out_h - 1) + 1 : stride, j : j + stride * (out_w - 1) + 1 : stride]
            out += torch.einsum("nchw,oc->nohw", window, w[:, :, i, j])  # (N, O, H', W')
    return out


def _bn_reference(x: torch.Tensor, bn: torch.nn.BatchNorm2d) -> torch.Tensor:
    """Inference-mode BatchNorm written out: (x - running mean) / sqrt(running var + eps) * gamma + beta."""
    shape = (1, -1, 1, 1)
    scale = (bn.running_var + bn.eps).rsqrt() * bn.weight
    return (x - bn.running_mean.view(shape)) * scale.view(shape) + bn.bias.view(shape)


def test_basic_block_identity_path_equals_brute_force(randomise_norms) -> None:
    torch.manual_seed(0)
    block = BasicBlock(8, 8).double().eval()
    randomise_norms(block)
    assert block.downsample is None
    x = torch.randn(2, 8, 6, 6, dtype=torch.float64)
    y = F.relu(_bn_reference(_conv_reference(x, block.conv1.weight, 1, 1), block.bn1))
    y = _bn_reference(_conv_reference(y, block.conv2.weight, 1, 1), block.bn2)
    expected = F.relu(y + x)  # the identity shortcut: x itself is added
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected)


def test_bottleneck_projection_path_equals_brute_force(randomise_norms) -> None:
    torch.manual_seed(1)
    block = Bottleneck(16, 4, stride=2).double().eval()
    randomise_norms(block)
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)  # v1.5: the 3x3 strides
    x = torch.randn(2, 16, 7, 7, dtype=torch.float64)
    y = F.relu(_bn_reference(_conv_reference(x, block.conv1.weight, 1, 0), block.bn1))
    y = F.relu(_bn_reference(_conv_reference(y, block.conv2.weight, 2, 1), block.bn2))  # (2, 4, 4, 4)
    y = _bn_reference(_conv_reference(y, block.conv3.weight, 1, 0), block.bn3)            # (2, 16, 4, 4)
    shortcut = _bn_reference(_conv_reference(x, block.downsample[0].weight, 2, 0), block.downsample[1])
    with torch.no_grad():
        torch.testing.assert_close(block(x), F.relu(y + shortcut))


def test_basic_block_projection_in_training_mode_equals_functional(randomise_norms) -> None:
    # Training mode: BatchNorm normalises by the batch's statistics and updates its running ones.
    torch.manual_seed(2)
    block = BasicBlock(4, 8, stride=2).double().train()
    randomise_norms(block)
    norms = [block.bn1, block.bn2, block.downsample[1]]
    running = [(bn.running_mean.clone(), bn.running_var.clone()) for bn in norms]

    def bn(y: torch.Tensor, k: int) -> torch.Tensor:
        mean, var = running[k]  # updated in place by F.batch_norm, as the module's buffers are
        return F.batch_norm(y, mean, var, norms[k].weight, norms[k].bias, training=True, momentum=0.1, eps=1e-5)

    x = torch.randn(3, 4, 7, 7, dtype=torch.float64)
    y = F.relu(bn(F.conv2d(x, block.conv1.weight, stride=2, padding=1), 0))  # (3, 8, 4, 4)
    y = bn(F.conv2d(y, block.conv2.weight, padding=1), 1)
    expected = F.relu(y + bn(F.conv2d(x, block.downsample[0].weight, stride=2), 2))
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected)
    for norm, (mean, var) in zip(norms, running):
        torch.testing.assert_close(norm.running_mean, mean)
        torch.testing.assert_close(norm.running_var, var)


def test_projection_shortcut_only_where_the_shape_changes() -> None:
    assert projection_shortcut(8, 8, 1) is None
    for in_chans, out_chans, stride in ((8, 16, 1), (8, 8, 2), (16, 32, 2)):
        conv, bn = projection_shortcut(in_chans, out_chans, stride)
        assert conv.kernel_size == (1, 1) and conv.stride == (stride, stride) and conv.bias is None
        assert conv.weight.shape == (out_chans, in_chans, 1, 1) and bn.num_features == out_chans
    x = torch.randn(2, 8, 5, 5)
    assert projection_shortcut(8, 16, 2)(x).shape == (2, 16, 3, 3)
