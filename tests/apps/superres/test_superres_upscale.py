"""Resizing, degradations and whole-photograph upscaling against independent references:
Pillow's bicubic, the image in one piece, and a network that adds nothing to bicubic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from cnnkit.apps.superres import FSRCNN, SRCNN, bicubic, degrade, parse_degradation, restore_luminance, super_resolve
from cnnkit.errors import ConfigError


def _rgb(h: int = 48, w: int = 60) -> torch.Tensor:
    return torch.from_numpy(data.astronaut()[120:120 + h, 180:180 + w].astype(np.float32) / 255).permute(2, 0, 1)


def test_bicubic_is_pillows_kernel_down_and_up():
    grey = data.camera()[:90, :120].astype(np.float32) / 255
    for size in ((30, 40), (270, 360)):
        ours = bicubic(torch.from_numpy(grey)[None, None], size)[0, 0].numpy()
        pillow = np.asarray(Image.fromarray(grey, mode="F").resize(size[::-1], Image.BICUBIC))
        np.testing.assert_allclose(ours, pillow, atol=2e-6)


def test_degradations_shrink_by_scale_and_are_seeded():
    hr = _rgb()[None]  # (1, 3, 48, 60)
    for kind in ("bicubic", "blur", "jpeg", "noise", "blur+jpeg", "bicubic+noise"):
        lr = degrade(hr, 3, kind, generator=torch.Generator().manual_seed(1))
        assert lr.shape == (1, 3, 16, 20) and 0 <= lr.min() and lr.max() <= 1, kind
    torch.testing.assert_close(degrade(hr, 3, "bicubic"), bicubic(hr, (16, 20)).clamp(0, 1))
    one, two = (degrade(hr, 2, "noise", generator=torch.Generator().manual_seed(5)) for _ in range(2))
    assert torch.equal(one, two)
    assert 0 < (degrade(hr, 2, "jpeg", quality=10) - degrade(hr, 2, "bicubic")).abs().mean() < 0.1


@pytest.mark.parametrize(("kind", "message"), [("sharpen", "use bicubic, blur"), ("jpeg+blur", "must come first")])
def test_bad_degradations(kind, message):
    with pytest.raises(ConfigError, match=message):
        parse_degradation(kind)


@pytest.mark.parametrize("model", [SRCNN(9, 5, 5), FSRCNN(3)], ids=["srcnn", "fsrcnn"])
def test_tiles_give_the_image_in_one_piece(model):
    torch.manual_seed(0)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    y = torch.rand(1, 37, 45)
    whole = restore_luminance(model, y, 3, tile=64)
    tiled = restore_luminance(model, y, 3, tile=10)
    assert whole.shape == (1, 111, 135)
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=1e-5)


def _adds_nothing() -> SRCNN:
    """A residual SRCNN whose last layer is zero: its output is its bicubic input."""
    model = SRCNN(9, 1, 5, residual=True)
    last = model[4]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    return model


def test_colour_is_luminance_by_the_network_and_chroma_by_bicubic():
    rgb = _rgb()
    out = super_resolve(_adds_nothing(), rgb, 2, tile=16)
    # YCbCr is linear, so a network that adds nothing to bicubic gives bicubic of the RGB image
    torch.testing.assert_close(out, bicubic(rgb[None], (96, 120))[0].clamp(0, 1), atol=2e-5, rtol=0)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_every_mode_keeps_its_channels(channels):
    image = torch.rand(channels, 20, 24)
    out = super_resolve(_adds_nothing(), image, 3)
    assert out.shape == (channels, 60, 72)
    if channels in (2, 4):  # alpha resized by bicubic, untouched by the network
        torch.testing.assert_close(out[-1], bicubic(image[None, -1:], (60, 72))[0, 0].clamp(0, 1))
    if channels == 1:
        torch.testing.assert_close(out, bicubic(image[None], (60, 72))[0].clamp(0, 1), atol=2e-5, rtol=0)


def test_an_image_smaller_than_the_field_is_refused():
    with pytest.raises(ConfigError, match="too small for the network's field"):
        super_resolve(FSRCNN(2), torch.rand(3, 10, 40), 2)
    with pytest.raises(ConfigError, match="scale must be an integer 2, 3 or 4"):
        super_resolve(FSRCNN(2), torch.rand(3, 40, 40), 5)


def test_strips_of_a_tall_image_equal_the_image_in_one_piece():
    torch.manual_seed(0)
    model = FSRCNN(3).eval()
    image = torch.rand(4, 70, 30)                 # RGBA, three strips of 24 rows
    whole = super_resolve(model, image, 3, tile=512)
    strips = super_resolve(model, image, 3, tile=24)
    torch.testing.assert_close(strips, whole, atol=2e-5, rtol=0)  # float rounding of other tile alignments
    as_bytes = super_resolve(model, image, 3, tile=24, as_uint8=True)
    assert as_bytes.dtype == torch.uint8 and (as_bytes.float() - whole * 255).abs().max() <= 0.5 + 1e-3
