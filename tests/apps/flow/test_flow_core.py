"""The optical-flow pieces against independent references: .flo bytes written by numpy the way the
Middlebury code does, a brute-force correlation, the Middlebury colour wheel's defining colours,
and end-point error by hand."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
import torch

from cnnkit.apps.flow import (
    Correlation,
    colour_wheel,
    correlation,
    end_point_error,
    flow_legend,
    flow_to_colour,
    read_flo,
    write_flo,
)
from cnnkit.errors import ConfigError, CorruptDataError


def _middlebury_bytes(flow: np.ndarray) -> bytes:
    """What the Middlebury C++ writer puts in a file: tag, width, height, then interleaved (u, v) rows."""
    h, w, _ = flow.shape
    return np.float32(202021.25).tobytes() + np.int32(w).tobytes() + np.int32(h).tobytes() + \
        flow.astype("<f4").tobytes()


def test_flo_reads_what_the_middlebury_writer_writes_and_writes_it_back(tmp_path):
    rng = np.random.default_rng(0)
    flow = rng.normal(0, 5, (7, 11, 2)).astype(np.float32)
    path = tmp_path / "a.flo"
    path.write_bytes(_middlebury_bytes(flow))
    read = read_flo(path)
    assert read.shape == (2, 7, 11)
    np.testing.assert_array_equal(read[0].numpy(), flow[:, :, 0])
    np.testing.assert_array_equal(read[1].numpy(), flow[:, :, 1])
    write_flo(tmp_path / "b.flo", read)
    assert (tmp_path / "b.flo").read_bytes() == path.read_bytes()


@pytest.mark.parametrize(("damage", "message"), [
    (lambda b: b"PIEX" + b[4:], "does not start with the .flo tag"),  # "PIEH" is the tag itself
    (lambda b: b[:-4], "is truncated or damaged"),
    (lambda b: b + b"\0" * 8, "is truncated or damaged"),
    (lambda b: b[:4] + struct.pack("<ii", 2**30, 2**30) + b[12:], "claims 1073741824x1073741824 pixels"),
    (lambda b: b[:4] + struct.pack("<ii", -3, 5) + b[12:], "claims -3x5 pixels"),
    (lambda b: b[:7], "shorter than a .flo header"),
])
def test_a_damaged_flo_file_is_one_clear_error(tmp_path, damage, message):
    path = tmp_path / "bad.flo"
    path.write_bytes(damage(_middlebury_bytes(np.zeros((3, 4, 2), np.float32))))
    with pytest.raises(CorruptDataError, match=message):
        read_flo(path)


def test_write_flo_refuses_a_field_that_is_not_two_channels(tmp_path):
    with pytest.raises(ConfigError, match=r"\(2, H, W\)"):
        write_flo(tmp_path / "x.flo", torch.zeros(3, 4, 4))
    assert not (tmp_path / "x.flo").exists()


def _brute_force_correlation(f1, f2, d, s):
    n, c, h, w = f1.shape
    out = torch.zeros(n, (2 * d // s + 1) ** 2, h, w, dtype=f1.dtype)
    k = 0
    for dy in range(-d, d + 1, s):
        for dx in range(-d, d + 1, s):
            for y in range(h):
                for x in range(w):
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < h and 0 <= xx < w:
                        out[:, k, y, x] = (f1[:, :, y, x] * f2[:, :, yy, xx]).sum(1) / c
            k += 1
    return out


@pytest.mark.parametrize(("d", "s", "size"), [(0, 1, (6, 7)), (2, 1, (6, 7)), (4, 2, (6, 7)), (3, 3, (6, 7)),
                                               (4, 1, (17, 10)), (9, 3, (19, 21))])
def test_correlation_equals_the_brute_force_loop(d, s, size):
    # (17, 10) spans several 8 x 8 tiles with a partial one; D = 9 takes the 16 x 16 tiles
    g = torch.Generator().manual_seed(d + s)
    f1, f2 = (torch.randn(2, 5, *size, generator=g, dtype=torch.float64) for _ in range(2))
    torch.testing.assert_close(correlation(f1, f2, d, s), _brute_force_correlation(f1, f2, d, s))


@pytest.mark.parametrize(("d", "s"), [(4, 1), (20, 2)])
def test_correlation_equals_the_displaced_copies_on_network_sizes(d, s):
    """The textbook vectorisation: every displaced copy of the second map, multiplied element-wise."""
    g = torch.Generator().manual_seed(d)
    f1, f2 = (torch.randn(2, 12, 37, 45, generator=g, dtype=torch.float64) for _ in range(2))
    k = 2 * d // s + 1
    copies = torch.nn.functional.unfold(torch.nn.functional.pad(f2, (d,) * 4), kernel_size=k, dilation=s)
    expected = torch.einsum("nckhw,nchw->nkhw", copies.view(2, 12, k * k, 37, 45), f1) / 12
    torch.testing.assert_close(correlation(f1, f2, d, s), expected)


def test_correlation_finds_a_known_shift_and_has_a_gradient():
    g = torch.Generator().manual_seed(0)
    f1 = torch.randn(1, 16, 12, 12, generator=g, dtype=torch.float64)
    f2 = torch.roll(f1, shifts=(1, -2), dims=(2, 3))   # f2(x + d) = f1(x) for dy = 1, dx = -2
    volume = correlation(f1, f2, 3)[0, :, 4:8, 4:8]    # away from the border
    best = volume.argmax(0)
    assert (best == (1 + 3) * 7 + (-2 + 3)).all()
    a = f1.clone().requires_grad_(True)
    b = f2.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, y: Correlation(2, 1)(x, y), (a[:, :3, :5, :5], b[:, :3, :5, :5]))


def test_correlation_refuses_bad_settings():
    x = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ConfigError, match="dividing max_displacement"):
        correlation(x, x, 3, 2)
    with pytest.raises(ConfigError, match="of one shape"):
        correlation(x, torch.zeros(1, 2, 4, 5))


def test_the_colour_wheel_has_the_middlebury_colours():
    wheel = (colour_wheel() * 255).round().long()
    assert len(wheel) == 55
    for index, rgb in ((0, (255, 0, 0)), (15, (255, 255, 0)), (21, (0, 255, 0)), (25, (0, 255, 255)),
                       (36, (0, 0, 255)), (49, (255, 0, 255))):
        assert tuple(wheel[index].tolist()) == rgb
    assert tuple(wheel[1].tolist()) == (255, math.floor(255 / 15), 0)   # the Middlebury code floors


def test_flow_colours_follow_direction_and_speed():
    flow = torch.tensor([[[0.0, 2.0, -2.0, 0.0, 0.0, 4.0]], [[0.0, 0.0, 0.0, 2.0, -2.0, 0.0]]])  # (2, 1, 6)
    rgb = flow_to_colour(flow, max_speed=2.0)[:, 0].T                         # (6, 3)
    assert torch.allclose(rgb[0], torch.ones(3))                              # still: white
    assert rgb[1].argmax() == 0 and rgb[1][0] == 1                            # rightwards: red
    assert rgb[2][2] > 0.9 and rgb[2][0] < 0.1                                # leftwards: cyan-blue
    assert not torch.allclose(rgb[3], rgb[4])                                 # down and up differ
    torch.testing.assert_close(rgb[5], rgb[1] * 0.75)                         # beyond max: darkened
    unknown = torch.tensor([[[1e10]], [[0.0]]])
    assert flow_to_colour(unknown).abs().sum() == 0                           # unknown: black
    legend = flow_legend(33)
    assert legend.shape == (3, 33, 33) and torch.allclose(legend[:, 16, 16], torch.ones(3))


def test_end_point_error_by_hand():
    flow = torch.zeros(2, 2, 2)
    truth = torch.tensor([[[3.0, 0.0], [0.0, 0.0]], [[4.0, 1.0], [0.0, 0.0]]])
    assert float(end_point_error(flow, truth)) == pytest.approx((5 + 1) / 4)
    mask = torch.tensor([[True, False], [False, False]])
    assert float(end_point_error(flow, truth, mask)) == pytest.approx(5.0)
    assert torch.isnan(end_point_error(flow, truth, torch.zeros(2, 2, dtype=torch.bool)))
