"""conv_matrix against F.conv1d/F.conv2d and autograd, and against the lecture's Laplacian matrices written out."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnkit.errors import ConfigError
from cnnkit.ops import conv_matrix

CONFIGS = [
    dict(padding="valid"), dict(padding="same"), dict(padding="full"), dict(padding=1, stride=2),
    dict(padding=(2, 0), stride=(1, 3), dilation=(2, 1)), dict(padding="same", dilation=2), dict(padding=0, stride=3),
]


def _torch_padding(padding, weight: torch.Tensor, dilation) -> object:
    """F.conv2d has no 'full': it is padding d * (k - 1) on every side."""
    if padding != "full":
        return padding
    d = (dilation,) * 2 if isinstance(dilation, int) else dilation
    return tuple(di * (k - 1) for di, k in zip(d, weight.shape[2:]))


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_matrix_times_x_is_the_convolution_and_its_transpose_the_gradient(config) -> None:
    torch.manual_seed(0)
    weight = torch.randn(3, 2, 3, 2, dtype=torch.float64)
    x = torch.randn(1, 2, 7, 6, dtype=torch.float64, requires_grad=True)
    padding = _torch_padding(config.get("padding"), weight, config.get("dilation", 1))
    y = F.conv2d(x, weight, padding=padding, stride=config.get("stride", 1), dilation=config.get("dilation", 1))
    a = conv_matrix(weight, (2, 7, 6), **config)
    assert a.is_sparse and a.shape == (y.numel(), x.numel())
    torch.testing.assert_close(a @ x.detach().flatten(), y.detach().flatten())
    torch.testing.assert_close(conv_matrix(weight, (2, 7, 6), dense=True, **config), a.to_dense(), rtol=0, atol=0)
    # Lecture: dx = A_w^T dy.
    dy = torch.randn_like(y)
    (dx,) = torch.autograd.grad(y, x, dy)
    torch.testing.assert_close(a.t() @ dy.flatten(), dx.flatten())


@pytest.mark.parametrize("config", [dict(padding="valid"), dict(padding="full", dilation=2), dict(padding=2, stride=3)],
                         ids=str)
def test_1d_matrix_times_x_is_conv1d(config) -> None:
    torch.manual_seed(0)
    weight = torch.randn(2, 3, 4, dtype=torch.float64)
    x = torch.randn(1, 3, 11, dtype=torch.float64)
    padding = _torch_padding(config["padding"], weight[:, :, None], (1, config.get("dilation", 1)))
    padding = padding[1] if isinstance(padding, tuple) else padding
    y = F.conv1d(x, weight, padding=padding, stride=config.get("stride", 1), dilation=config.get("dilation", 1))
    torch.testing.assert_close(conv_matrix(weight, (3, 11), **config) @ x.flatten(), y.flatten())


def test_flip_gives_true_convolution() -> None:
    weight = torch.arange(12.0).view(1, 2, 2, 3)
    flipped = conv_matrix(weight, (2, 4, 5), flip=True, dense=True)
    assert torch.equal(flipped, conv_matrix(weight.flip(2, 3), (2, 4, 5), dense=True))
    assert not torch.equal(flipped, conv_matrix(weight, (2, 4, 5), dense=True))


def test_second_difference_kernel_gives_the_tridiagonal_matrix() -> None:
    a = conv_matrix(torch.tensor([[[1.0, -2.0, 1.0]]]), (1, 6), dense=True)
    expected = torch.tensor([
        [1.0, -2.0, 1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, -2.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, -2.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0, -2.0, 1.0],
    ])
    assert torch.equal(a, expected)
    # 'same' (zero boundary): the square Dirichlet second-difference matrix tridiag(1, -2, 1).
    same = conv_matrix(torch.tensor([[[1.0, -2.0, 1.0]]]), (1, 5), padding="same", dense=True)
    assert torch.equal(same, -2 * torch.eye(5) + torch.diag(torch.ones(4), 1) + torch.diag(torch.ones(4), -1))


LAPLACE = torch.tensor([[[[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]]])


def test_five_point_laplacian_gives_the_block_banded_matrix() -> None:
    # 3x3 image, zero boundary ('same'): blocks T = tridiag(1, -4, 1) on the diagonal, I beside it.
    expected = torch.tensor([
        [-4, 1, 0, 1, 0, 0, 0, 0, 0],
        [1, -4, 1, 0, 1, 0, 0, 0, 0],
        [0, 1, -4, 0, 0, 1, 0, 0, 0],
        [1, 0, 0, -4, 1, 0, 1, 0, 0],
        [0, 1, 0, 1, -4, 1, 0, 1, 0],
        [0, 0, 1, 0, 1, -4, 0, 0, 1],
        [0, 0, 0, 1, 0, 0, -4, 1, 0],
        [0, 0, 0, 0, 1, 0, 1, -4, 1],
        [0, 0, 0, 0, 0, 1, 0, 1, -4],
    ], dtype=torch.float32)
    assert torch.equal(conv_matrix(LAPLACE, (1, 3, 3), padding="same", dense=True), expected)
    # Larger: the Kronecker form I (x) D + D (x) I with D = tridiag(1, -2, 1).
    n = 5
    d = -2 * torch.eye(n) + torch.diag(torch.ones(n - 1), 1) + torch.diag(torch.ones(n - 1), -1)
    kron = torch.kron(torch.eye(n), d) + torch.kron(d, torch.eye(n))
    assert torch.equal(conv_matrix(LAPLACE, (1, n, n), padding="same", dense=True), kron)
    # 'valid' on 4x4: 2x2 outputs, each row the stencil centred on an interior pixel.
    valid = conv_matrix(LAPLACE, (1, 4, 4), dense=True)
    for row, (i, j) in enumerate([(1, 1), (1, 2), (2, 1), (2, 2)]):
        image = torch.zeros(4, 4)
        image[i, j] = -4
        image[i - 1, j] = image[i + 1, j] = image[i, j - 1] = image[i, j + 1] = 1
        assert torch.equal(valid[row], image.flatten())


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_nnz_counts_the_taps_inside_the_input(config) -> None:
    weight = torch.ones(2, 3, 3, 2)
    a = conv_matrix(weight, (3, 6, 5), **config)
    # Brute force: push an all-ones image through F.conv2d with all-ones kernels: each output counts its
    # in-input taps over one input channel; sum over outputs and channels.
    padding = _torch_padding(config.get("padding"), weight, config.get("dilation", 1))
    taps = F.conv2d(torch.ones(1, 1, 6, 5), torch.ones(1, 1, 3, 2), padding=padding,
                    stride=config.get("stride", 1), dilation=config.get("dilation", 1))
    assert a._nnz() == int(taps.sum()) * 2 * 3
    assert torch.equal(a.coalesce().indices(), a.indices())
    # Zero weights stay as explicit entries: the pattern depends on the geometry alone.
    assert conv_matrix(torch.zeros_like(weight), (3, 6, 5), **config)._nnz() == a._nnz()


def test_gradient_flows_to_the_weight() -> None:
    weight = torch.randn(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    x = torch.randn(1 * 5 * 5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda w: conv_matrix(w, (1, 5, 5), padding=1, dense=True) @ x, (weight,))


@pytest.mark.parametrize("stride", [2, 3, (2, 1)])
def test_same_with_a_stride_matches_cnnkit_conv2d(stride) -> None:
    """'same' follows cnnkit.ops.conv2d for any stride (output ceil(n / s)), where F.conv2d refuses."""
    from cnnkit.ops import conv2d

    torch.manual_seed(1)
    weight = torch.randn(3, 2, 4, 3, dtype=torch.float64)  # an even kernel height: asymmetric padding
    x = torch.randn(1, 2, 7, 6, dtype=torch.float64)
    y = conv2d(x, weight, padding="same", stride=stride)
    torch.testing.assert_close(conv_matrix(weight, (2, 7, 6), padding="same", stride=stride) @ x.flatten(), y.flatten())


@pytest.mark.parametrize(("call", "words"), [
    (lambda w: conv_matrix(w, (2, 2, 2)), ["kernel (3, 3)", "padded input 2x2", "(2, 2, 2)"]),
    (lambda w: conv_matrix(w, (3, 5, 5)), ["input_shape (3, 5, 5)", "(4, 2, 3, 3)", "C_in = 2"]),
    (lambda w: conv_matrix(w, (2, 5)), ["(C_in, H, W)"]),
    (lambda w: conv_matrix(w[None], (2, 5, 5)), ["(C_out, C_in, kh, kw)", "(1, 4, 2, 3, 3)"]),
    (lambda w: conv_matrix(w, (2, 5, 5), stride=0), ["stride must be >= 1"]),
    (lambda w: conv_matrix(w, (2, 5, 5), dilation=-1), ["dilation must be >= 1"]),
    (lambda w: conv_matrix(w, (2, 5, 5), padding="circular"), ["'valid', 'same', 'full'"]),
    (lambda w: conv_matrix(w, (2, 5, 5), padding=-1), ["padding must be >= 0"]),
])
def test_bad_input_raises_config_error_naming_shapes(call, words) -> None:
    with pytest.raises(ConfigError) as info:
        call(torch.ones(4, 2, 3, 3))
    for word in words:
        assert word in str(info.value)
