"""RoI pooling against a brute-force max over each bin, written from Fast R-CNN's definition, and gradcheck."""

from __future__ import annotations

import math

import pytest
import torch

from cnnkit.errors import ConfigError
from cnnkit.ops.roi import roi_pool


def _brute_roi_pool(features, rois, output, scale):
    """One box, one bin at a time, as Caffe's ROIPoolingLayer loops (C round: halves away from zero)."""
    out_h, out_w = output
    result = torch.zeros(len(rois), features.shape[1], out_h, out_w, dtype=features.dtype)
    height, width = features.shape[2:]
    for r, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        def rnd(v):
            return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)
        sx, sy, ex, ey = rnd(x1 * scale), rnd(y1 * scale), rnd(x2 * scale), rnd(y2 * scale)
        roi_w, roi_h = max(ex - sx + 1, 1), max(ey - sy + 1, 1)
        for i in range(out_h):
            h0 = min(max(math.floor(i * roi_h / out_h) + sy, 0), height)
            h1 = min(max(math.ceil((i + 1) * roi_h / out_h) + sy, 0), height)
            for j in range(out_w):
                w0 = min(max(math.floor(j * roi_w / out_w) + sx, 0), width)
                w1 = min(max(math.ceil((j + 1) * roi_w / out_w) + sx, 0), width)
                if h1 > h0 and w1 > w0:
                    result[r, :, i, j] = features[int(b), :, h0:h1, w0:w1].amax(dim=(1, 2))
    return result


def _random_rois(g, count, images, size, scale):
    corners = torch.rand(count, 4, generator=g, dtype=torch.float64) * (size / scale * 1.2) - size / scale * 0.1
    x1, x2 = corners[:, [0, 2]].min(1).values, corners[:, [0, 2]].max(1).values
    y1, y2 = corners[:, [1, 3]].min(1).values, corners[:, [1, 3]].max(1).values
    index = torch.randint(0, images, (count,), generator=g).double()
    return torch.stack([index, x1, y1, x2, y2], 1)


@pytest.mark.parametrize("output, scale", [((7, 7), 1 / 16), ((2, 3), 0.5), ((5, 4), 1.0)])
def test_roi_pool_matches_a_brute_force_max_over_each_bin(output, scale):
    g = torch.Generator().manual_seed(0)
    features = torch.randn(3, 4, 13, 17, generator=g, dtype=torch.float64)
    rois = _random_rois(g, 40, 3, 17, scale)
    rois[0] = torch.tensor([1, 3.0 / scale, 2.0 / scale, 3.0 / scale, 2.0 / scale])   # a single cell
    rois[1] = torch.tensor([2, 30.0 / scale, 30.0 / scale, 40.0 / scale, 40.0 / scale])  # outside: all bins empty
    expected = _brute_roi_pool(features, rois, output, scale)
    torch.testing.assert_close(roi_pool(features, rois, output, scale), expected, rtol=0, atol=0)
    # with a gradient wanted, the winners are tracked too: the same values
    tracked = roi_pool(features.clone().requires_grad_(), rois, output, scale)
    torch.testing.assert_close(tracked.detach(), expected, rtol=0, atol=0)


def test_roi_pool_breaks_ties_in_row_major_order_and_routes_gradient_to_the_winner():
    features = torch.zeros(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    out = roi_pool(features, torch.tensor([[0.0, 0, 0, 3, 3]]), 1)
    out.sum().backward()
    expected = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    expected[0, 0, 0, 0] = 1
    torch.testing.assert_close(features.grad, expected)


def test_roi_pool_gradients_pass_gradcheck_and_sum_over_overlapping_boxes():
    g = torch.Generator().manual_seed(1)
    # distinct values, so each bin's winner is unique and the max is differentiable
    features = torch.randperm(2 * 2 * 6 * 7, generator=g).double().view(2, 2, 6, 7).div(10).requires_grad_()
    rois = _random_rois(g, 12, 2, 7, 1.0)
    rois = torch.cat([rois, rois[:3]])   # the same boxes twice: their gradients add up
    assert torch.autograd.gradcheck(lambda f: roi_pool(f, rois, (3, 2), 1.0), (features,))


def test_roi_pool_of_no_boxes_is_empty_and_bad_arguments_raise():
    features = torch.randn(1, 2, 5, 5)
    assert roi_pool(features, torch.zeros(0, 5), 3).shape == (0, 2, 3, 3)
    with pytest.raises(ConfigError, match="rois of shape"):
        roi_pool(features, torch.zeros(3, 4), 3)
    with pytest.raises(ConfigError, match="index an image"):
        roi_pool(features, torch.tensor([[1.0, 0, 0, 2, 2]]), 3)
    with pytest.raises(ConfigError, match="output"):
        roi_pool(features, torch.tensor([[0.0, 0, 0, 2, 2]]), 0)


def test_roi_pool_in_chunks_equals_one_pass(monkeypatch):
    g = torch.Generator().manual_seed(2)
    features = torch.randn(2, 3, 8, 8, generator=g)
    rois = _random_rois(g, 25, 2, 8, 1.0).float()
    whole = roi_pool(features, rois, 2)
    monkeypatch.setattr("cnnkit.ops.roi._CHUNK_ELEMENTS", 3 * 2 * 2 * 4 * 4)   # four boxes a chunk
    torch.testing.assert_close(roi_pool(features, rois, 2), whole, rtol=0, atol=0)
