"""Locally connected (unshared) convolution against a per-position loop and F.conv2d, and its parameter count."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnkit.errors import ConfigError
from cnnkit.layers import LocallyConnected1d, LocallyConnected2d
from cnnkit.ops import locally_connected1d, locally_connected2d


def _loop_2d(x, weight, bias, stride, padding, dilation):
    """Brute force: every output position applies its own kernel to its own patch."""
    xp = F.pad(x, (padding[1], padding[1], padding[0], padding[0]))
    ho, wo, c_out = weight.shape[:3]
    kh, kw = weight.shape[-2:]
    y = x.new_zeros(x.shape[0], c_out, ho, wo)
    for i in range(ho):
        for j in range(wo):
            r, c = i * stride[0], j * stride[1]
            patch = xp[:, :, r:r + dilation[0] * (kh - 1) + 1:dilation[0], c:c + dilation[1] * (kw - 1) + 1:dilation[1]]
            y[:, :, i, j] = torch.einsum("nchw,ochw->no", patch, weight[i, j])
    return y if bias is None else y + (bias.view(-1, 1, 1) if bias.dim() == 1 else bias)


@pytest.mark.parametrize(("size", "kernel", "stride", "padding", "dilation"), [
    ((6, 7), (3, 3), (1, 1), (0, 0), (1, 1)), ((8, 7), (3, 2), (2, 1), (1, 0), (1, 2)), ((5, 5), (1, 1), (1, 1), (0, 0), (1, 1)),
    ((9, 6), (2, 3), (3, 2), (1, 1), (2, 1)),
])
@pytest.mark.parametrize("bias", ["position", "shared", None])
def test_2d_equals_a_per_position_loop(size, kernel, stride, padding, dilation, bias) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    ho, wo = ((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, s, p, d in zip(size, kernel, stride, padding, dilation))
    weight = torch.randn(ho, wo, 4, 3, *kernel, dtype=torch.float64)
    b = {"position": torch.randn(4, ho, wo, dtype=torch.float64), "shared": torch.randn(4, dtype=torch.float64),
         None: None}[bias]
    torch.testing.assert_close(locally_connected2d(x, weight, b, stride, padding, dilation),
                               _loop_2d(x, weight, b, stride, padding, dilation))


def test_1d_equals_the_2d_loop_on_a_one_pixel_high_image() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 10, dtype=torch.float64)
    weight = torch.randn(4, 4, 3, 3, dtype=torch.float64)  # (L_out, C_out, C_in, k)
    bias = torch.randn(4, 4, dtype=torch.float64)
    y = locally_connected1d(x, weight, bias, stride=2, padding=1, dilation=2)
    expected = _loop_2d(x[:, :, None], weight[None, :, :, :, None], bias[:, None], (1, 2), (0, 1), (1, 2))
    torch.testing.assert_close(y, expected[:, :, 0])


def test_one_kernel_shared_by_all_positions_is_conv2d() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 9, 8)
    kernel, bias = torch.randn(5, 3, 3, 3), torch.randn(5)
    expected = F.conv2d(x, kernel, bias, stride=2, padding=1, dilation=1)
    weight = kernel.expand(*expected.shape[2:], *kernel.shape)
    torch.testing.assert_close(locally_connected2d(x, weight, bias, stride=2, padding=1), expected)
    expected = F.conv1d(x[:, :, 0], kernel[..., 1], bias, stride=2, padding=1)
    weight = kernel[..., 1].expand(expected.shape[2], *kernel.shape[:3])
    torch.testing.assert_close(locally_connected1d(x[:, :, 0], weight, bias, stride=2, padding=1), expected)


def test_parameter_count_follows_the_formula_and_grows_with_the_pixels() -> None:
    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    # 'same'-sized output (padding 1, 3x3): out_positions = pixels.
    small, large = LocallyConnected2d(16, 8, 8, 3, padding=1), LocallyConnected2d(16, 8, 16, 3, padding=1)
    assert count(small) == 8 * 8 * (8 * 16 * 3**2) + 8 * 8 * 8
    assert count(large) == 4 * count(small)  # 4x the pixels, 4x the parameters
    assert count(LocallyConnected2d(16, 8, 16, 3, padding=1, bias=False)) == 16 * 16 * 8 * 16 * 9
    assert count(torch.nn.Conv2d(16, 8, 3, padding=1)) == 8 * 16 * 9 + 8  # the shared kernel: no pixel term
    assert count(LocallyConnected1d(4, 2, 10, 3)) == 8 * 2 * 4 * 3 + 2 * 8


def test_modules_forward_backward_and_shapes() -> None:
    layer = LocallyConnected2d(3, 4, (9, 8), (3, 2), stride=2, padding=1)
    assert layer.weight.shape == (5, 5, 4, 3, 3, 2) and layer.bias.shape == (4, 5, 5)
    assert layer(torch.randn(2, 3, 9, 8)).shape == (2, 4, 5, 5)
    small = LocallyConnected2d(2, 2, (4, 3), (2, 2), padding=1).double()
    x = torch.randn(1, 2, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t, w, b: locally_connected2d(t, w, b, padding=1),
                                    (x, small.weight, small.bias))
    y = LocallyConnected1d(3, 4, 10, 3)(torch.randn(2, 3, 10))
    assert y.shape == (2, 4, 8)
    assert "input_size=(9, 8)" in repr(layer)


@pytest.mark.parametrize(("call", "words"), [
    (lambda: LocallyConnected2d(3, 4, 8, 3)(torch.randn(1, 3, 10, 10)), ["(8, 8, 4, 3, 3, 3)", "(1, 3, 10, 10)",
                                                                          "input size (10, 10)"]),
    (lambda: LocallyConnected2d(3, 4, 8, 3)(torch.randn(1, 2, 8, 8)), ["(6, 6, 4, 2, 3, 3)", "C_in"]),
    (lambda: LocallyConnected2d(3, 4, 8, 3)(torch.randn(3, 8, 8)), ["(N, C, H, W)", "(3, 8, 8)"]),
    (lambda: LocallyConnected2d(3, 4, 4, 5), ["kernel (5, 5)", "padded input 4x4"]),
    (lambda: LocallyConnected2d(3, 4, 8, 3, stride=0), ["stride must be >= 1"]),
    (lambda: LocallyConnected1d(3, 0, 8, 3), ["out_channels must be >= 1"]),
    (lambda: locally_connected2d(torch.randn(1, 3, 8, 8), torch.randn(6, 6, 4, 3, 3)), ["(H_out, W_out, C_out"]),
    (lambda: locally_connected2d(torch.randn(1, 3, 8, 8), torch.randn(6, 6, 4, 3, 3, 3), torch.randn(4, 6)),
     ["bias must be", "(4, 6, 6)", "got shape (4, 6)"]),
])
def test_bad_input_raises_config_error_naming_shapes(call, words) -> None:
    with pytest.raises(ConfigError) as info:
        call()
    for word in words:
        assert word in str(info.value)
