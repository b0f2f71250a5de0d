"""Decoding image files of any mode and bit depth into what a model expects."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnkit.data.images import image_to_tensor, load_image, resize_center_crop
from cnnkit.errors import ImageError


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    grey = np.asarray(load_image(tmp_path / "deep.png", mode="L")).astype(int)
    expected = np.rint(ramp / 257.0).astype(int)
    assert np.abs(grey - expected).max() <= 1
    assert grey.min() == 0 and 250 <= grey.max() <= 255


def test_float_image_in_unit_range_is_scaled(tmp_path: Path) -> None:
    values = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    Image.fromarray(values, mode="F").save(tmp_path / "f.tiff")
    grey = np.asarray(load_image(tmp_path / "f.tiff", mode="L")).astype(int)
    assert np.abs(grey - np.rint(values * 255)).max() <= 1


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "CMYK", "1"])
def test_every_common_mode_decodes_to_rgb_and_grey(tmp_path: Path, mode: str) -> None:
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8))
    path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    (rgb.convert(mode) if mode != "P" else rgb.quantize(16)).save(path)
    assert load_image(path, mode="RGB").mode == "RGB"
    tensor = image_to_tensor(resize_center_crop(load_image(path, mode="L"), 8))
    assert tensor.shape == (1, 8, 8)


def test_resize_center_crop_keeps_the_centre(tmp_path: Path) -> None:
    pixels = np.zeros((40, 80), dtype=np.uint8)
    pixels[:, 20:60] = 255  # a white square in the middle of a wide image
    out = np.asarray(resize_center_crop(Image.fromarray(pixels), 10))
    assert out.shape == (10, 10) and out.min() > 200


def test_long_thin_image_is_not_resized_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    # Found while writing tests/data/test_fuzz.py, by reading, not by a case (its images are
    # at most 24 x 24): the whole image was resized before the crop, so a 94-byte PNG of
    # 1 x 2000 pixels became a 224 x 448000 image (400 MB) at size 224, and 1 x 20000 4 GB.
    resize = Image.Image.resize

    def bounded_resize(self: Image.Image, size: tuple[int, int], *args: object, **kwargs: object) -> Image.Image:
        assert size[0] * size[1] <= 4 * 224 * 224, f"resized to {size}"
        return resize(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", bounded_resize)
    ramp = np.linspace(0, 255, 20_000).astype(np.uint8)[:, None]  # (H, W) = (20000, 1), dark to light
    out = np.asarray(resize_center_crop(Image.fromarray(ramp), 224))
    # The crop sees source rows 9999.5 .. 10000.5, where the ramp is 127.5.
    assert out.shape == (224, 224) and out.min() >= 127 and out.max() <= 128


@pytest.mark.parametrize("width, height", [(3000, 100), (100, 3000), (300, 100)])
def test_resize_center_crop_of_a_ramp(width: int, height: int) -> None:
    # A linear ramp along the long side survives bilinear resizing: each output pixel is the
    # ramp's value at its centre in source pixels (both the whole-resize and the box path).
    long = max(width, height)
    ramp = np.linspace(0, 255, long)
    pixels = np.broadcast_to(ramp[None, :] if width > height else ramp[:, None], (height, width))
    out = np.asarray(resize_center_crop(Image.fromarray(np.rint(pixels).astype(np.uint8)), 10)).astype(float)
    scale = min(width, height) / 10                      # source pixels per output pixel
    offset = (round(long / scale) - 10) // 2             # where the crop starts in the resized image
    centres = (offset + np.arange(10) + 0.5) * scale - 0.5
    expected = 255 * centres / (long - 1)
    along = out[0, :] if width > height else out[:, 0]
    assert np.abs(along - expected).max() <= 1.0


def test_truncated_png_raises_image_error(tmp_path: Path) -> None:
    Image.new("RGB", (50, 50), "red").save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.png"):
        load_image(tmp_path / "cut.png")


def test_decompression_bomb_warning_is_image_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Found by tests/data/test_fuzz.py: a 12 x 22 BMP under a limit of 256 pixels decoded,
    # because Pillow only warns between MAX_IMAGE_PIXELS and twice it (here 257 .. 512
    # pixels; by default 89 to 179 million) and load_image silenced every warning.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 256)
    Image.new("1", (12, 22)).save(tmp_path / "warn.bmp")
    Image.new("1", (16, 16)).save(tmp_path / "fine.bmp")
    with pytest.raises(ImageError, match=r"warn.bmp.*decompression bomb"):
        load_image(tmp_path / "warn.bmp")
    assert load_image(tmp_path / "fine.bmp").size == (16, 16)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and an IHDR chunk (8-bit RGB) with a correct CRC, then IEND: no pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_decompression_bomb_header_is_refused_before_decoding(tmp_path: Path) -> None:
    # 10**10 pixels at Pillow's default limit: refused when the header is read, so nothing
    # near the 30 GB those pixels would take is ever asked for (a MemoryError would not match).
    (tmp_path / "bomb.png").write_bytes(_png_header_only(100_000, 100_000))
    with pytest.raises(ImageError, match=r"bomb.png.*decompression bomb") as info:
        load_image(tmp_path / "bomb.png")
    assert "\n" not in str(info.value)
