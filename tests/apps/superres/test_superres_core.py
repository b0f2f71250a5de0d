"""Super-resolution's building blocks against independent references: scikit-image's colour
conversion and metrics, the papers' weight counts, a plain functional forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import color, data, metrics
from torch.utils.flop_counter import FlopCounterMode

from cnnkit.apps.superres import FSRCNN, SRCNN, psnr, rgb_to_ycbcr, shave, ssim, ycbcr_to_rgb
from cnnkit.errors import ConfigError


def _photo() -> torch.Tensor:
    """A 96x128 crop of scikit-image's astronaut, (3, H, W) float64 in [0, 1]."""
    return torch.from_numpy(data.astronaut()[100:196, 150:278].astype(np.float64) / 255).permute(2, 0, 1)


def test_ycbcr_is_skimages_bt601_and_inverts():
    rgb = _photo()
    ours = rgb_to_ycbcr(rgb)
    reference = color.rgb2ycbcr(rgb.permute(1, 2, 0).numpy()) / 255  # MATLAB's convention: Y in [16, 235]
    np.testing.assert_allclose(ours.permute(1, 2, 0).numpy(), reference, atol=1e-12)
    torch.testing.assert_close(ycbcr_to_rgb(ours), rgb, atol=1e-12, rtol=0)
    assert 16 / 255 - 1e-12 <= ours[0].min() and ours[0].max() <= 235 / 255 + 1e-12


def test_psnr_and_ssim_match_scikit_image():
    clean = rgb_to_ycbcr(_photo())[0]
    noisy = (clean + 0.05 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0),
                                        dtype=torch.float64)).clamp(0, 1)
    for border in (0, 3):
        a, b = shave(clean, border).numpy(), shave(noisy, border).numpy()
        assert float(psnr(noisy, clean, border=border)) == pytest.approx(
            metrics.peak_signal_noise_ratio(a, b, data_range=1.0), abs=1e-9)
        assert float(ssim(noisy, clean, border=border)) == pytest.approx(
            metrics.structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False), abs=1e-9)


def test_metrics_are_per_image_in_a_batch():
    clean = rgb_to_ycbcr(_photo())[:1]
    batch = torch.stack([clean, (clean * 0.9).clamp(0, 1)])  # (2, 1, H, W)
    target = clean.expand(2, -1, -1, -1)
    scores = psnr(batch, target)
    assert scores.shape == (2,) and torch.isinf(scores[0]) and scores[1] < 40
    assert ssim(batch[:, 0], target[:, 0]).shape == (2,)
    assert float(ssim(clean[0], clean[0])) == pytest.approx(1.0)


@pytest.mark.parametrize(("a", "b", "message"), [
    (torch.zeros(8, 8), torch.zeros(8, 9), "cannot be compared"),
    (torch.zeros(8, 8), torch.zeros(8, 8), "at least 11x11"),
])
def test_bad_metric_inputs_are_one_clear_error(a, b, message):
    with pytest.raises(ConfigError, match=message):
        ssim(a, b)
    with pytest.raises(ConfigError, match="leaves nothing"):
        shave(torch.zeros(8, 8), 4)


def _weights(model: torch.nn.Module) -> int:
    """Convolution weights only: what the papers count (no biases, no PReLU slopes)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)))


@pytest.mark.parametrize(("f2", "weights"), [(1, 8_032), (3, 24_416), (5, 57_184)])
def test_srcnn_has_the_papers_weight_counts(f2, weights):
    assert _weights(SRCNN(9, f2, 5)) == weights


def test_srcnn_valid_is_three_plain_convolutions_and_replicate_keeps_the_size():
    torch.manual_seed(0)
    valid = SRCNN(9, 5, 5, border="valid").double()
    x = torch.rand(2, 1, 40, 36, dtype=torch.float64)
    c1, c2, c3 = (m for m in valid if isinstance(m, torch.nn.Conv2d))
    expected = F.conv2d(F.relu(F.conv2d(F.relu(F.conv2d(x, c1.weight, c1.bias)), c2.weight, c2.bias)), c3.weight, c3.bias)
    out = valid(x)
    assert out.shape == (2, 1, 40 - valid.shrink, 36 - valid.shrink) and valid.shrink == 16
    torch.testing.assert_close(out, expected)
    same = SRCNN(9, 5, 5)
    same.load_state_dict(valid.float().state_dict())
    assert same(x.float()).shape == x.shape
    # away from the border the padding changes nothing
    torch.testing.assert_close(same(x.float())[..., 8:-8, 8:-8], expected.float(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_fsrcnn_upsamples_by_scale_with_the_papers_weights_and_fewer_macs(scale):
    model = FSRCNN(scale)
    assert _weights(model) == 12_464  # FSRCNN(56, 12, 4), Dong, Loy & Tang (2016), table 1
    low = torch.rand(1, 1, 20, 24)
    with FlopCounterMode(display=False) as counter:
        out = model(low)
    assert out.shape == (1, 1, 20 * scale, 24 * scale)
    per_output_pixel = counter.get_total_flops() / 2 / out[0, 0].numel()
    assert per_output_pixel == pytest.approx(12_464 / scale**2, rel=0.02)  # every layer's MACs, read from torch
    with FlopCounterMode(display=False) as counter:
        SRCNN(9, 5, 5)(torch.rand(1, 1, 20 * scale, 24 * scale))
    assert counter.get_total_flops() / 2 / out[0, 0].numel() == pytest.approx(57_184, rel=1e-6)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(border="zeros"), "border must be one of"), (dict(f1=4), "odd kernel size"),
])
def test_bad_srcnn_options(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SRCNN(**kwargs)


@pytest.mark.parametrize("scale", [1, 5, 2.5])
def test_bad_scales(scale):
    with pytest.raises(ConfigError, match="scale must be an integer 2, 3 or 4"):
        FSRCNN(scale)
