"""The physical-world transformations and the destruction rate (Kurakin et al., 2017, eq. 1),
against a per-image computation of the formula, scipy's Gaussian filter, Pillow and exact grid moves."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter

from cnnkit.attacks import (
    BIM,
    DEFAULT_TRANSFORMS,
    FGSM,
    destruction_rate,
    destruction_table,
)
from cnnkit.attacks.physical import (
    JPEG,
    Brightness,
    Contrast,
    GaussianBlur,
    GaussianNoise,
    Rotation,
    Scale,
    Translation,
)
from cnnkit.errors import ConfigError


def _brute_force_destruction(model, x, x_adv, y, transform) -> float:
    """Eq. (1) image by image: sum_k C(X) not C(X_adv) C(T(X_adv)) / sum_k C(X) not C(X_adv)."""
    def c(image, label) -> int:  # C(X, y): 1 if the model classifies X as y
        with torch.no_grad():
            return int(int(model(image.unsqueeze(0)).argmax()) == int(label))

    top = bottom = 0
    moved = transform(x_adv)
    for k in range(len(x)):
        weight = c(x[k], y[k]) * (1 - c(x_adv[k], y[k]))
        top += weight * c(moved[k], y[k])
        bottom += weight
    return top / bottom if bottom else math.nan


@pytest.fixture(scope="module")
def fgsm_batch(digits_batch):
    model, x, y = digits_batch
    return model, x, FGSM(eps=0.15)(model, x, y).x_adv, y


@pytest.mark.parametrize("transform", [JPEG(30), GaussianBlur(0.8), GaussianNoise(0.1), Brightness(-0.2),
                                       Rotation(20.0)], ids=lambda t: t.name)
def test_destruction_rate_is_equation_one(fgsm_batch, transform):
    model, x, x_adv, y = fgsm_batch
    expected = _brute_force_destruction(model, x, x_adv, y, transform)
    assert 0 < expected < 1  # the case is not degenerate
    assert destruction_rate(model, x, x_adv, y, transform, batch_size=7) == pytest.approx(expected, abs=1e-12)


def test_destruction_rate_is_nan_without_fooled_images(digits_batch):
    model, x, y = digits_batch
    assert math.isnan(destruction_rate(model, x, x.clone(), y, JPEG(75)))


def test_destruction_table_holds_each_rate(digits_batch):
    model, x, y = digits_batch
    attacks = {"FGSM": FGSM(eps=0.15), "BIM": BIM(eps=0.15, alpha=0.03, steps=6)}
    transforms = [GaussianBlur(1.0), Brightness(0.1)]
    table = destruction_table(model, x, y, attacks, transforms)
    assert table.attacks == ("FGSM", "BIM") and table.transforms == ("blur sigma=1", "brightness +0.1")
    for a, attack in enumerate(attacks.values()):
        result = attack(model, x, y)
        assert table.adv_accuracy[a] == pytest.approx(result.adv_accuracy)
        for t, transform in enumerate(transforms):
            assert table.rates[a][t] == pytest.approx(destruction_rate(model, x, result.x_adv, y, transform))


def _grey_batch(n=3, c=1, size=12, seed=0):
    return torch.rand((n, c, size, size), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.7])
def test_blur_matches_scipy(sigma):
    x = _grey_batch(c=3)
    radius = math.ceil(3 * sigma)  # the kernel's stated reach: 3 sigma, rounded up
    expected = np.stack([[gaussian_filter(ch, sigma, mode="mirror", radius=radius) for ch in img] for img in x.numpy()])
    np.testing.assert_allclose(GaussianBlur(sigma)(x).numpy(), np.clip(expected, 0, 1), atol=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_is_a_real_pillow_round_trip(channels):
    x = _grey_batch(n=2, c=channels, size=16)
    out = JPEG(40)(x)
    pixels = (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for k in range(2):
        image = Image.fromarray(pixels[k, :, :, 0] if channels == 1 else pixels[k])
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=40)
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue()))).reshape(16, 16, channels)
        np.testing.assert_allclose(out[k].permute(1, 2, 0).numpy() * 255, decoded, atol=1e-4)
    assert float((JPEG(95)(x) - x).abs().mean()) < float((JPEG(10)(x) - x).abs().mean())


def test_brightness_contrast_and_noise():
    x = 0.25 + 0.5 * _grey_batch()  # in [0.25, 0.75]: no clipping below
    torch.testing.assert_close(Brightness(0.1)(x), x + 0.1)
    low = Contrast(0.5)(x)
    torch.testing.assert_close(low.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)))
    torch.testing.assert_close(low - low.mean(dim=(1, 2, 3), keepdim=True),
                               0.5 * (x - x.mean(dim=(1, 2, 3), keepdim=True)))
    flat = torch.full((4, 1, 32, 32), 0.5)
    noisy = GaussianNoise(0.05, seed=1)(flat)
    assert torch.equal(noisy, GaussianNoise(0.05, seed=1)(flat))
    assert not torch.equal(noisy, GaussianNoise(0.05, seed=2)(flat))
    assert float((noisy - flat).std()) == pytest.approx(0.05, rel=0.05)


def test_geometric_transforms_move_pixels_exactly():
    x = _grey_batch(c=2, size=10)
    torch.testing.assert_close(Rotation(0.0)(x), x)
    torch.testing.assert_close(Scale(1.0)(x), x)
    # A quarter turn of a square image maps pixel centres onto pixel centres.
    turned = Rotation(90.0)(x)
    torch.testing.assert_close(turned, torch.rot90(x, 1, dims=(2, 3)), atol=1e-5, rtol=0)
    # A whole-pixel shift right and down; the vacated border repeats the edge.
    shifted = Translation(2.0, 1.0)(x)
    torch.testing.assert_close(shifted[:, :, 1:, 2:], x[:, :, :-1, :-2], atol=1e-5, rtol=0)
    torch.testing.assert_close(shifted[:, :, 1:, 0], x[:, :, :-1, 0], atol=1e-5, rtol=0)
    # Zooming in by 2 about the centre: output pixel i reads input position 2 - 0.5 + (i + 0.5 - 2) / 2,
    # and bilinear interpolation is exact on the ramp 4 row + column.
    zoomed = Scale(2.0)(torch.arange(16.0).view(1, 1, 4, 4) / 15)[0, 0] * 15
    reads = torch.tensor([1.5 + (i + 0.5 - 2) / 2 for i in range(4)])
    torch.testing.assert_close(zoomed, 4 * reads.view(4, 1) + reads.view(1, 4), atol=1e-4, rtol=0)


def test_default_transforms_keep_shape_and_range():
    x = _grey_batch(c=3, size=16)
    names = [t.name for t in DEFAULT_TRANSFORMS]
    assert len(set(names)) == len(names)
    for transform in DEFAULT_TRANSFORMS:
        out = transform(x)
        assert out.shape == x.shape and out.dtype == x.dtype
        assert float(out.min()) >= 0 and float(out.max()) <= 1


@pytest.mark.parametrize("make", [lambda: JPEG(0), lambda: GaussianBlur(0), lambda: GaussianNoise(-1),
                                  lambda: Brightness(2), lambda: Contrast(-1), lambda: Scale(0)])
def test_transforms_refuse_bad_parameters(make):
    with pytest.raises(ConfigError):
        make()


def test_destruction_rate_refuses_mismatched_batches(fgsm_batch):
    model, x, x_adv, y = fgsm_batch
    with pytest.raises(ConfigError, match="same shape"):
        destruction_rate(model, x, x_adv[:3], y, JPEG(75))
    with pytest.raises(ConfigError, match="one label per image"):
        destruction_rate(model, x, x_adv, y[:3], JPEG(75))
