"""Subsampling, max and average pooling against PyTorch: forward, arg-max indices, gradients, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.errors import ConfigError
from cnnkit.ops import avg_pool1d, avg_pool2d, max_pool1d, max_pool2d, subsample

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


@pytest.mark.parametrize(("ndim", "stride", "kernel", "padding", "dilation"), [
    (2, 2, 3, 0, 1), (2, 3, 3, 1, 1), (2, (2, 3), (3, 2), (1, 0), 1), (2, 2, 3, 2, 2), (2, 4, 1, 0, 1),
    (2, (3, 1), 5, 2, (1, 2)), (1, 3, 4, 1, 2), (3, 2, 3, 1, 1),
])
def test_strided_convolution_is_subsampled_stride_one_convolution(ndim, stride, kernel, padding, dilation) -> None:
    # Lecture: conv with stride delta = S_delta(conv with stride 1).
    torch.manual_seed(0)
    ks = (kernel,) * ndim if isinstance(kernel, int) else kernel
    x = torch.randn(2, 3, *(11 - ndim,) * ndim, dtype=torch.float64)
    w = torch.randn(4, 3, *ks, dtype=torch.float64)
    conv = CONV[ndim]
    strided = conv(x, w, stride=stride, padding=padding, dilation=dilation)
    full = conv(x, w, stride=1, padding=padding, dilation=dilation)
    torch.testing.assert_close(subsample(full, stride), strided)  # float64; torch picks different kernels


def test_subsample_backward_is_the_transpose() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 7, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: subsample(t, (2, 3)), (x,))
    dy = torch.randn(2, 3, 4, 3, dtype=torch.float64)
    (dx,) = torch.autograd.grad(subsample(x, (2, 3)), x, dy)
    # <S x, dy> = <x, S^T dy>, with S^T dy scattered into zeros.
    torch.testing.assert_close((subsample(x, (2, 3)) * dy).sum(), (x * dx).sum())
    assert dx[:, :, 1::2].abs().sum() == 0 and dx[:, :, :, 1::3].abs().sum() == 0


def _torch_or_none(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except RuntimeError:
        return None


@st.composite
def pool_case(draw, ndim: int, dilation: bool = True):
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    return dict(
        size=tuple(draw(st.integers(1, 9)) for _ in range(ndim)),
        kernel_size=kernel,
        stride=draw(st.one_of(st.none(), st.tuples(*[st.integers(1, 3)] * ndim))),
        padding=tuple(draw(st.integers(0, k // 2)) for k in kernel),
        dilation=tuple(draw(st.integers(1, 3)) for _ in range(ndim)) if dilation else None,
        ceil_mode=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )


def _tied_input(case: dict, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(case["seed"])
    # Values in {0, 1, 2}: most windows hold several maxima, so the tie rule is exercised.
    return torch.randint(0, 3, (2, 3, *case["size"]), generator=g).to(dtype).requires_grad_()


@pytest.mark.parametrize(("ndim", "ours", "theirs"), [(1, max_pool1d, F.max_pool1d), (2, max_pool2d, F.max_pool2d)])
@settings(max_examples=80)
@given(data=st.data())
def test_max_pool_equals_torch_with_ties(ndim, ours, theirs, data) -> None:
    case = data.draw(pool_case(ndim))
    x = _tied_input(case)
    args = (case["kernel_size"], case["stride"], case["padding"], case["dilation"], case["ceil_mode"])
    expected = _torch_or_none(theirs, x, *args, return_indices=True)
    if expected is None:  # torch refuses these parameters: so must we
        with pytest.raises(ConfigError):
            ours(x, *args)
        return
    y, index = ours(x, *args, return_indices=True)
    assert torch.equal(y, expected[0]) and torch.equal(index, expected[1])
    dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(case["seed"]))
    # A window wholly in the padding (dilation) outputs a constant -inf: it must route nothing, where PyTorch
    # may route to an aliased input (test_window_wholly_in_padding_routes_nothing).
    torch_dy = dy.masked_fill(expected[0] == float("-inf"), 0)
    assert torch.equal(torch.autograd.grad(y, x, dy)[0], torch.autograd.grad(expected[0], x, torch_dy)[0])


@pytest.mark.parametrize(("ndim", "ours", "theirs"), [(1, avg_pool1d, F.avg_pool1d), (2, avg_pool2d, F.avg_pool2d)])
@settings(max_examples=60)
@given(data=st.data(), count_include_pad=st.booleans())
def test_avg_pool_equals_torch(ndim, ours, theirs, data, count_include_pad) -> None:
    case = data.draw(pool_case(ndim, dilation=False))
    x = _tied_input(case, torch.float64)
    args = (case["kernel_size"], case["stride"], case["padding"], case["ceil_mode"], count_include_pad)
    expected = _torch_or_none(theirs, x, *args)
    if expected is None:
        with pytest.raises(ConfigError):
            ours(x, *args)
        return
    y = ours(x, *args)
    torch.testing.assert_close(y, expected)
    dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(case["seed"]), dtype=torch.float64)
    torch.testing.assert_close(torch.autograd.grad(y, x, dy)[0], torch.autograd.grad(expected, x, dy)[0])


def test_avg_pool2d_divisor_override_and_unbatched_input() -> None:
    x = torch.rand(3, 7, 6, dtype=torch.float64)
    torch.testing.assert_close(avg_pool2d(x, 3, 2, 1, True, False, divisor_override=5),
                               F.avg_pool2d(x, 3, 2, 1, True, False, divisor_override=5))


def test_max_pool_nan_and_all_minus_inf_windows_route_like_torch() -> None:
    nan, inf = float("nan"), float("inf")
    x = torch.tensor([[[[1.0, nan, 5.0, -inf], [nan, 2.0, 5.0, -inf], [0.0, 5.0, -inf, -inf]]]], requires_grad=True)
    for args in [(3, 1, 1), (2, 1, 1, 1, True), ((2, 3), (1, 2), (1, 1), (1, 2))]:
        y, index = max_pool2d(x, *args, return_indices=True)
        expected, expected_index = F.max_pool2d(x, *args, return_indices=True)
        torch.testing.assert_close(y, expected, equal_nan=True)
        assert torch.equal(index, expected_index)
        dy = torch.randn(y.shape)
        assert torch.equal(torch.autograd.grad(y, x, dy)[0], torch.autograd.grad(expected, x, dy)[0])


def test_window_wholly_in_padding_routes_nothing() -> None:
    # Dilation 2 over a width-1 input with padding 1: every window sees only padding, so y = -inf, a
    # constant. PyTorch's index here is 1, 2 (as if (0, 1) and (1, 1)): 1 aliases x[1, 0], which then gets
    # gradient from F.max_pool2d. We return the same indices but route no gradient.
    x = torch.tensor([[[[1.0], [2.0]]]], requires_grad=True)
    y, index = max_pool2d(x, (1, 2), None, (0, 1), (1, 2), return_indices=True)
    expected, expected_index = F.max_pool2d(x, (1, 2), None, (0, 1), (1, 2), return_indices=True)
    assert torch.equal(y, expected) and torch.equal(index, expected_index)
    assert torch.equal(torch.autograd.grad(y.sum(), x)[0], torch.zeros_like(x))


@pytest.mark.parametrize(("fn", "shape", "kwargs"), [
    (max_pool2d, (2, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, dilation=(1, 2), ceil_mode=True)),
    (max_pool1d, (2, 3, 9), dict(kernel_size=2, stride=1, padding=1)),
    (avg_pool2d, (2, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    (avg_pool1d, (2, 3, 9), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
])
def test_gradcheck_float64(fn, shape, kwargs) -> None:
    torch.manual_seed(0)
    # Distinct values, far apart: no ties, so max pooling is differentiable at the test point.
    x = (torch.randperm(torch.Size(shape).numel()).to(torch.float64).view(shape) / 10).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: fn(t, **kwargs), (x,))
    assert torch.autograd.gradgradcheck(lambda t: fn(t, **kwargs), (x,))


def test_unbatched_input_matches_torch() -> None:
    x = torch.rand(3, 8, 9)
    y, index = max_pool2d(x, 3, 2, 1, return_indices=True)
    expected, expected_index = F.max_pool2d(x, 3, 2, 1, return_indices=True)
    assert torch.equal(y, expected) and torch.equal(index, expected_index)
    assert torch.equal(max_pool1d(x, 2), F.max_pool1d(x, 2))


@pytest.mark.parametrize(("call", "words"), [
    (lambda x: max_pool2d(x, 5), ["5x5", "padded input 4x4", "(1, 2, 4, 4)"]),
    (lambda x: max_pool2d(x, 3, dilation=2), ["5x5 window", "dilation (2, 2)"]),
    (lambda x: max_pool2d(x, 3, padding=2), ["padding (2, 2)", "kernel_size // 2"]),
    (lambda x: avg_pool2d(x, 2, padding=2), ["padding (2, 2)"]),
    (lambda x: max_pool2d(x, 2, stride=0), ["stride must be >= 1"]),
    (lambda x: max_pool2d(x, 2, dilation=(1, 0)), ["dilation must be >= 1"]),
    (lambda x: max_pool2d(x, 0), ["kernel_size must be >= 1"]),
    (lambda x: max_pool2d(x, (2, 2, 2)), ["kernel_size must be an int or 2 ints"]),
    (lambda x: max_pool2d(x[0, 0, 0], 2), ["(N, C, H, W) or (C, H, W)", "got shape (4,)"]),
    (lambda x: max_pool1d(x, 2), ["(N, C, L)", "(1, 2, 4, 4)"]),
    (lambda x: avg_pool2d(x.long(), 2), ["floating-point", "torch.int64"]),
    (lambda x: avg_pool2d(x, 2, divisor_override=0), ["divisor_override"]),
    (lambda x: subsample(x, 0), ["delta must be >= 1"]),
    (lambda x: subsample(x[0, 0], 2), ["subsample expects", "got shape (4, 4)"]),
])
def test_bad_input_raises_config_error_naming_the_problem(call, words) -> None:
    with pytest.raises(ConfigError) as info:
        call(torch.rand(1, 2, 4, 4))
    for word in words:
        assert word in str(info.value)
