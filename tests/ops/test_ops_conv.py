"""cnnkit.ops.conv against torch.nn.functional, numpy and brute-force sums, and the lecture's properties.

References: forward and gradients of F.conv1d/2d/3d (autograd), np.convolve / np.correlate,
direct loops over output positions, and the algebra of convolution (commutativity,
associativity, bilinearity, translation equivariance, composition of kernels).
"""

from __future__ import annotations

import itertools
import math
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd import gradcheck, gradgradcheck
from torch.utils._python_dispatch import TorchDispatchMode

from cnnkit.errors import ConfigError
from cnnkit.ops import (
    ConvNdFunction,
    conv1d,
    conv2d,
    conv3d,
    convolve1d,
    convolve2d,
    convolve3d,
)

OPS = {1: conv1d, 2: conv2d, 3: conv3d}
CONVOLVE = {1: convolve1d, 2: convolve2d, 3: convolve3d}
TORCH = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
f64 = torch.float64


def _rand(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=f64)


def _flip(w: torch.Tensor) -> torch.Tensor:
    return w.flip(list(range(2, w.dim())))


def _grads(y: torch.Tensor, inputs: list[torch.Tensor], dy: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(y, inputs, dy)


def _direct(x: np.ndarray, w: np.ndarray, stride: tuple[int, int], pads: list[tuple[int, int]],
            dilation: tuple[int, int]) -> np.ndarray:
    """Cross-correlation by a sum over every output position (N, C, H, W), one group."""
    x = np.pad(x, [(0, 0), (0, 0), *pads])
    (kh, kw), (sh, sw), (dh, dw) = w.shape[2:], stride, dilation
    oh = (x.shape[2] - (kh - 1) * dh - 1) // sh + 1
    ow = (x.shape[3] - (kw - 1) * dw - 1) // sw + 1
    y = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for i, j in itertools.product(range(oh), range(ow)):
        window = x[:, :, i * sh: i * sh + (kh - 1) * dh + 1: dh, j * sw: j * sw + (kw - 1) * dw + 1: dw]
        y[:, :, i, j] = np.einsum("nchw,ochw->no", window, w)
    return y


# --- forward and gradients against torch.nn.functional -------------------------------------

@st.composite
def conv_cases(draw: st.DrawFn, max_nd: int = 2) -> dict:
    nd = draw(st.integers(1, max_nd))
    groups = draw(st.integers(1, 3))
    kernel = [draw(st.integers(1, 4)) for _ in range(nd)]
    dilation = [draw(st.integers(1, 3)) for _ in range(nd)]
    padding = [draw(st.integers(0, 3)) for _ in range(nd)]
    spans = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    size = [draw(st.integers(max(1, s - 2 * p), max(1, s - 2 * p) + 5)) for s, p in zip(spans, padding)]
    return {
        "nd": nd, "groups": groups, "kernel": kernel, "dilation": dilation, "padding": padding, "size": size,
        "stride": [draw(st.integers(1, 3)) for _ in range(nd)], "batch": draw(st.integers(1, 2)),
        "c_in": groups * draw(st.integers(1, 2)), "c_out": groups * draw(st.integers(1, 2)),
        "bias": draw(st.booleans()), "flip": draw(st.booleans()), "seed": draw(st.integers(0, 2**16)),
    }


@settings(max_examples=80)
@given(conv_cases())
def test_forward_and_gradients_equal_torch(case: dict) -> None:
    gen = torch.Generator().manual_seed(case["seed"])
    x = _rand(gen, case["batch"], case["c_in"], *case["size"]).requires_grad_()
    w = _rand(gen, case["c_out"], case["c_in"] // case["groups"], *case["kernel"]).requires_grad_()
    b = _rand(gen, case["c_out"]).requires_grad_() if case["bias"] else None
    args = (case["stride"], case["padding"], case["dilation"], case["groups"])
    y = OPS[case["nd"]](x, w, b, *args, flip=case["flip"])
    expected = TORCH[case["nd"]](x, _flip(w) if case["flip"] else w, b, *args)
    torch.testing.assert_close(y, expected)
    dy = torch.randn_like(y)
    inputs = [x, w] + ([b] if b is not None else [])
    for ours, theirs in zip(_grads(y, inputs, dy), _grads(expected, inputs, dy)):
        torch.testing.assert_close(ours, theirs)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize(("kernel", "dilation"), [(1, 1), (2, 1), (3, 1), (4, 1), (3, 2), (2, 3)])
def test_same_with_stride_one_equals_torch_same(nd: int, kernel: int, dilation: int) -> None:
    gen = torch.Generator().manual_seed(kernel * 10 + dilation)
    x = _rand(gen, 2, 3, *[5] * nd).requires_grad_()
    w = _rand(gen, 4, 3, *[kernel] * nd).requires_grad_()
    y = OPS[nd](x, w, padding="same", dilation=dilation)
    expected = TORCH[nd](x, w, padding="same", dilation=dilation)
    torch.testing.assert_close(y, expected)
    dy = torch.randn_like(y)
    for ours, theirs in zip(_grads(y, [x, w], dy), _grads(expected, [x, w], dy)):
        torch.testing.assert_close(ours, theirs)


@settings(max_examples=40)
@given(
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)), kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 4), st.integers(1, 4)), dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    seed=st.integers(0, 2**16),
)
def test_same_with_any_stride_is_tensorflows_same(size: tuple, kernel: tuple, stride: tuple, dilation: tuple,
                                                  seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    x, w = _rand(gen, 2, 2, *size), _rand(gen, 3, 2, *kernel)
    y = conv2d(x, w, stride=stride, padding="same", dilation=dilation)
    assert y.shape[2:] == tuple(math.ceil(n / s) for n, s in zip(size, stride))
    # TensorFlow's definition: pad so the strided windows cover ceil(n/s) outputs, extra pixel after.
    pads = []
    for n, k, s, d in zip(size, kernel, stride, dilation):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    expected = _direct(x.numpy(), w.numpy(), stride, pads, dilation)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize(("stride", "dilation"), [(1, 1), (2, 1), (1, 2), (3, 2)])
def test_full_equals_torch_with_k_minus_one_times_dilation_padding(nd: int, stride: int, dilation: int) -> None:
    gen = torch.Generator().manual_seed(nd)
    x, w = _rand(gen, 1, 2, *[4] * nd), _rand(gen, 3, 2, *[3, 2, 3][:nd])
    y = OPS[nd](x, w, stride=stride, padding="full", dilation=dilation)
    pad = [(k - 1) * dilation for k in w.shape[2:]]
    torch.testing.assert_close(y, TORCH[nd](x, w, stride=stride, padding=pad, dilation=dilation))


def test_asymmetric_explicit_padding_per_dimension() -> None:
    gen = torch.Generator().manual_seed(3)
    x, w = _rand(gen, 1, 2, 5, 6), _rand(gen, 2, 2, 3, 2)
    torch.testing.assert_close(conv2d(x, w, padding=(0, 2), stride=(2, 1)), F.conv2d(x, w, padding=(0, 2), stride=(2, 1)))


# --- true convolution (flip=True) --------------------------------------------------------

@settings(max_examples=40)
@given(x=st.lists(st.floats(-4, 4), min_size=1, max_size=12), w=st.lists(st.floats(-4, 4), min_size=1, max_size=6))
def test_convolve1d_full_equals_numpy_convolve(x: list[float], w: list[float]) -> None:
    y = convolve1d(torch.tensor(x, dtype=f64).view(1, 1, -1), torch.tensor(w, dtype=f64).view(1, 1, -1), padding="full")
    np.testing.assert_allclose(y.flatten().numpy(), np.convolve(x, w, mode="full"), atol=1e-9)


def test_convolve2d_full_equals_direct_sum_of_shifted_inputs() -> None:
    gen = torch.Generator().manual_seed(5)
    x, w = _rand(gen, 1, 1, 4, 5), _rand(gen, 1, 1, 3, 2)
    y = convolve2d(x, w, padding="full")[0, 0]
    xs, ws = x[0, 0].numpy(), w[0, 0].numpy()
    expected = np.zeros((4 + 3 - 1, 5 + 2 - 1))
    for i, j, u, v in itertools.product(range(6), range(6), range(3), range(2)):
        if 0 <= i - u < 4 and 0 <= j - v < 5:
            expected[i, j] += xs[i - u, j - v] * ws[u, v]  # (x * w)[i, j] = sum_uv x[i-u, j-v] w[u, v]
    np.testing.assert_allclose(y.numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_flip_equals_correlation_with_the_flipped_kernel(nd: int) -> None:
    gen = torch.Generator().manual_seed(nd)
    x, w, b = _rand(gen, 2, 4, *[5] * nd), _rand(gen, 4, 2, *[3, 2, 2][:nd]), _rand(gen, 4)
    kw = {"stride": 2, "padding": "same", "groups": 2}
    expected = OPS[nd](x, _flip(w), b, **kw)
    torch.testing.assert_close(OPS[nd](x, w, b, flip=True, **kw), expected)
    torch.testing.assert_close(CONVOLVE[nd](x, w, b, **kw), expected)


# --- gradients: gradcheck and the lecture's formula -----------------------------------------

GRADCHECK_CASES = [
    # nd, size, kernel, stride, padding, dilation, groups, flip
    (1, 8, 3, 1, "valid", 1, 1, False),
    (1, 9, 2, 3, "same", 2, 2, True),
    (1, 6, 3, 2, "full", 1, 1, False),
    (1, 7, 3, 2, 2, 1, 2, False),
    (2, 5, 2, 1, "same", 1, 1, False),
    (2, 6, 3, 2, "same", 1, 2, True),
    (2, 6, 2, 2, "valid", 2, 1, False),
    (2, 4, 3, 3, "full", 1, 2, False),
    (3, 4, 2, 1, "same", 1, 1, True),
    (3, 4, 2, 2, "full", 1, 2, False),
    (3, 5, 2, 2, 1, 2, 1, False),
]


@pytest.mark.parametrize(("nd", "size", "kernel", "stride", "padding", "dilation", "groups", "flip"), GRADCHECK_CASES)
def test_gradcheck(nd: int, size: int, kernel: int, stride: int, padding: object, dilation: int, groups: int,
                   flip: bool) -> None:
    gen = torch.Generator().manual_seed(size)
    x = _rand(gen, 2 if nd < 3 else 1, 2, *[size] * nd).requires_grad_()
    w = _rand(gen, 2, 2 // groups, *[kernel] * nd).requires_grad_()
    b = _rand(gen, 2).requires_grad_()
    assert gradcheck(lambda x, w, b: OPS[nd](x, w, b, stride, padding, dilation, groups, flip=flip), (x, w, b))


def test_double_backward_is_autograd_of_the_handwritten_backward() -> None:
    gen = torch.Generator().manual_seed(0)
    x, w = _rand(gen, 1, 2, 5, 4).requires_grad_(), _rand(gen, 2, 1, 2, 3).requires_grad_()
    assert gradgradcheck(lambda x, w: conv2d(x, w, stride=2, padding="same", groups=2), (x, w))


class _AtenOps(TorchDispatchMode):
    """Records every aten operator that runs."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        self.names.add(func.__name__)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_backward_is_handwritten_not_torchs_convolution_backward(nd: int) -> None:
    gen = torch.Generator().manual_seed(nd)
    x = _rand(gen, 2, 4, *[6] * nd).requires_grad_()
    w = _rand(gen, 4, 2, *[3] * nd).requires_grad_()
    y_ref = TORCH[nd](x, w, stride=2, padding=1, groups=2)
    with _AtenOps() as seen:
        y_ref.sum().backward()
    assert any(n.startswith("convolution_backward") for n in seen.names)  # the detector works

    grads_ref = (x.grad.clone(), w.grad.clone())
    x.grad = w.grad = None
    y = OPS[nd](x, w, stride=2, padding=1, groups=2)
    assert type(y.grad_fn).__name__ == "ConvNdFunctionBackward"
    with mock.patch.object(ConvNdFunction, "backward", wraps=ConvNdFunction.backward) as backward, _AtenOps() as seen:
        y.sum().backward()
    assert backward.call_count == 1
    assert not any(n.startswith("convolution_backward") for n in seen.names)
    torch.testing.assert_close((x.grad, w.grad), grads_ref)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_gradients_are_the_lectures_formulas_in_1d(stride: int) -> None:
    # y[j] = sum_u x[j s + u] w[u]  =>  dx[i] = sum_j dy[j] w[i - j s],  dw[u] = sum_j dy[j] x[j s + u].
    rng = np.random.default_rng(stride)
    xs, ws = rng.normal(size=11), rng.normal(size=3)
    x = torch.tensor(xs).view(1, 1, -1).requires_grad_()
    w = torch.tensor(ws).view(1, 1, -1).requires_grad_()
    y = conv1d(x, w, stride=stride)
    dys = rng.normal(size=y.shape[-1])
    y.backward(torch.tensor(dys).view(1, 1, -1))
    dy_dilated = np.zeros((len(dys) - 1) * stride + 1)
    dy_dilated[::stride] = dys
    dx = np.zeros(11)
    dx[: len(dy_dilated) + 2] = np.convolve(dy_dilated, ws, mode="full")  # dx = dy * w, full mode
    dw = np.correlate(xs[: len(dy_dilated) + 2], dy_dilated, mode="valid")  # dw = dy * flip(x)
    np.testing.assert_allclose(x.grad.flatten().numpy(), dx, atol=1e-12)
    np.testing.assert_allclose(w.grad.flatten().numpy(), dw, atol=1e-12)


# --- the lecture's algebra of convolution ----------------------------------------------------

def _signal(gen: torch.Generator, nd: int, n: int) -> torch.Tensor:
    return _rand(gen, 1, 1, *[n] * nd)


@pytest.mark.parametrize("nd", [1, 2])
def test_true_convolution_is_commutative_and_associative_in_full_mode(nd: int) -> None:
    gen = torch.Generator().manual_seed(nd)
    x, a, b = _signal(gen, nd, 6), _signal(gen, nd, 3), _signal(gen, nd, 2)
    conv = CONVOLVE[nd]
    torch.testing.assert_close(conv(x, a, padding="full"), conv(a, x, padding="full"))
    torch.testing.assert_close(
        conv(conv(x, a, padding="full"), b, padding="full"), conv(x, conv(a, b, padding="full"), padding="full")
    )


@pytest.mark.parametrize("flip", [False, True])
def test_convolution_is_bilinear(flip: bool) -> None:
    gen = torch.Generator().manual_seed(7)
    x1, x2, w1, w2 = _rand(gen, 2, 3, 6, 6), _rand(gen, 2, 3, 6, 6), _rand(gen, 4, 3, 3, 3), _rand(gen, 4, 3, 3, 3)
    alpha, beta = 0.7, -2.5

    def conv(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return conv2d(x, w, padding="same", stride=2, flip=flip)

    torch.testing.assert_close(conv(alpha * x1 + beta * x2, w1), alpha * conv(x1, w1) + beta * conv(x2, w1))
    torch.testing.assert_close(conv(x1, alpha * w1 + beta * w2), alpha * conv(x1, w1) + beta * conv(x1, w2))


@settings(max_examples=30)
@given(shift=st.tuples(st.integers(-3, 3), st.integers(-3, 3)), seed=st.integers(0, 2**16), flip=st.booleans())
def test_translation_equivariance(shift: tuple[int, int], seed: int, flip: bool) -> None:
    gen = torch.Generator().manual_seed(seed)
    x, w = _rand(gen, 1, 2, 12, 12), _rand(gen, 3, 2, 3, 3)
    # Exactly, with circular borders: roll the input and the output rolls by the same amount.
    circ = conv2d(F.pad(x, (1, 1, 1, 1), mode="circular"), w, flip=flip)
    circ_shifted = conv2d(F.pad(torch.roll(x, shift, (2, 3)), (1, 1, 1, 1), mode="circular"), w, flip=flip)
    torch.testing.assert_close(circ_shifted, torch.roll(circ, shift, (2, 3)))
    # With zero borders: the same away from the borders (outputs whose window saw no wrapped pixel).
    y = conv2d(x, w, padding="same", flip=flip)
    y_shifted = conv2d(torch.roll(x, shift, (2, 3)), w, padding="same", flip=flip)
    inside = (slice(None), slice(None), slice(4, 8), slice(4, 8))
    torch.testing.assert_close(y_shifted[inside], torch.roll(y, shift, (2, 3))[inside])


@pytest.mark.parametrize("nd", [1, 2])
def test_two_convolutions_equal_one_with_the_convolved_kernel(nd: int) -> None:
    gen = torch.Generator().manual_seed(11)
    x, a, b = _signal(gen, nd, 9), _signal(gen, nd, 3), _signal(gen, nd, 4)
    conv = CONVOLVE[nd]
    torch.testing.assert_close(conv(conv(x, a), b), conv(x, conv(a, b, padding="full")))


# --- bad input ----------------------------------------------------------------------------

BAD = [
    (lambda: conv2d(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 3, 3)),
     r"kernel \(3, 3\).*larger than the padded input.*\(1, 1, 2, 2\)"),
    (lambda: conv2d(torch.zeros(1, 3, 5, 5), torch.zeros(2, 2, 3, 3)),
     r"x \(1, 3, 5, 5\) has 3 channels but weight \(2, 2, 3, 3\) with groups=1 expects 2"),
    (lambda: conv2d(torch.zeros(1, 4, 5, 5), torch.zeros(3, 2, 3, 3), groups=2),
     r"weight \(3, 2, 3, 3\) has 3 output channels, not divisible by groups=2"),
    (lambda: conv2d(torch.zeros(1, 1, 5, 5), torch.zeros(1, 1, 3, 3), stride=0), r"stride must be positive, got 0"),
    (lambda: conv1d(torch.zeros(1, 1, 5), torch.zeros(1, 1, 3), dilation=(-1,)), r"dilation must be positive"),
    (lambda: conv2d(torch.zeros(1, 5, 5), torch.zeros(1, 1, 3, 3)),
     r"conv2d expects x of shape \(N, C, H, W\), got \(1, 5, 5\); add a batch dimension"),
    (lambda: conv3d(torch.zeros(1, 1, 5, 5), torch.zeros(1, 1, 3, 3, 3)), r"conv3d expects x .* got \(1, 1, 5, 5\)"),
    (lambda: conv1d(torch.zeros(1, 1, 5), torch.zeros(1, 3)), r"weight of shape .* got \(1, 3\)"),
    (lambda: conv2d(torch.zeros(1, 1, 5, 5), torch.zeros(1, 1, 3, 3), padding="circular"),
     r"unknown padding 'circular'"),
    (lambda: conv2d(torch.zeros(1, 1, 5, 5), torch.zeros(1, 1, 3, 3), padding=-1), r"padding must be >= 0"),
    (lambda: conv2d(torch.zeros(1, 1, 5, 5), torch.zeros(1, 1, 3, 3), padding=(1, 2, 3)), r"padding must be"),
    (lambda: conv2d(torch.zeros(1, 1, 5, 5), torch.zeros(2, 1, 3, 3), torch.zeros(3)),
     r"bias must have shape \(2,\) for weight \(2, 1, 3, 3\), got \(3,\)"),
    (lambda: conv2d(torch.zeros(1, 1, 5, 5), torch.zeros(1, 1, 3, 3, dtype=f64)), r"one floating dtype"),
    (lambda: conv2d(torch.zeros(1, 1, 5, 5, dtype=torch.long), torch.zeros(1, 1, 3, 3, dtype=torch.long)),
     r"one floating dtype"),
]


@pytest.mark.parametrize(("call", "message"), BAD)
def test_bad_input_raises_config_error_naming_the_problem(call, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match=message):
        call()


def test_empty_batch_and_channels_last_inputs() -> None:
    gen = torch.Generator().manual_seed(1)
    w = _rand(gen, 4, 2, 3, 3).requires_grad_()
    empty = torch.zeros(0, 2, 5, 5, dtype=f64, requires_grad=True)
    conv2d(empty, w, padding="same").sum().backward()
    assert empty.grad.shape == empty.shape and torch.equal(w.grad, torch.zeros_like(w))
    w.grad = None
    x = _rand(gen, 2, 2, 6, 6).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = conv2d(x, w, stride=2, padding="same")  # 6 -> 3: one pixel of padding, after (TensorFlow)
    expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), w, stride=2)
    torch.testing.assert_close(y, expected)
    ours = _grads(y, [x, w], torch.ones_like(y))
    theirs = _grads(expected, [x, w], torch.ones_like(y))
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b)


def test_under_autocast_conv_computes_in_the_autocast_dtype_like_torch() -> None:
    """bf16 autocast on the CPU: same dtype out as F.conv2d, gradients back in float32, values close."""
    import torch.nn.functional as F

    from cnnkit.ops import conv2d as ours

    torch.manual_seed(0)
    x = torch.randn(2, 3, 9, 9, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    b = torch.randn(4, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mine, theirs = ours(x, w, b, padding=1), F.conv2d(x, w, b, padding=1)
        inner = ours(mine, torch.randn(2, 4, 3, 3))  # an autocast output feeds the next convolution
    assert mine.dtype == theirs.dtype == inner.dtype == torch.bfloat16
    assert torch.allclose(mine.float(), theirs.float(), atol=0.1, rtol=0.02)
    mine.float().sum().backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == torch.float32
