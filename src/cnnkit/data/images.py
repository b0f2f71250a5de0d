"""Decoding image files with Pillow, shared by folder datasets and ``cnnkit predict``.

Every decoding failure of a file (missing, not an image, truncated, a decompression bomb)
becomes an ``ImageError`` naming the file, so one bad JPEG among a million reads as one
line, not a traceback from a worker process.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from cnnkit.errors import ConfigError, ImageError
from cnnkit.files import GIB, read_bytes

__all__ = ["IMAGE_SUFFIXES", "decode_image", "load_image", "resize_center_crop", "image_to_tensor"]

# Longest side over shorter side beyond which resize_center_crop resizes only the crop.
_MAX_ASPECT = 4
# Pillow refuses more than 2 x MAX_IMAGE_PIXELS (179 Mpx); stored raw as RGBA that is 716 MB.
_MAX_IMAGE_BYTES = 1 * GIB

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)


def load_image(
    path: str | os.PathLike[str], *, mode: str | None = "RGB", draft_size: int | None = None
) -> Image.Image:
    """Decode an image file, upright (EXIF orientation applied) and converted to ``mode``
    (None: the file's own mode, high bit depths as 8-bit greyscale).

    ``draft_size`` lets JPEG decoding scale down by DCT while keeping both sides at least
    that many pixels, which makes large photos several times cheaper to load.
    """
    path = Path(path)
    # Read whole through cnnkit.files: a FIFO or device named like an image fails at once
    # instead of blocking Pillow's open() forever.
    data = read_bytes(path, what="image", max_bytes=_MAX_IMAGE_BYTES, error=ImageError)
    return decode_image(data, name=f"'{path}'", mode=mode, draft_size=draft_size,
                        advice="delete or replace the file")


def decode_image(
    data: bytes, *, name: str, mode: str | None = "RGB", draft_size: int | None = None,
    max_pixels: int | None = None, advice: str = "send a PNG or JPEG file",
) -> Image.Image:
    """Decode an image held in memory (a file's bytes, an upload) as ``load_image`` does.

    ``max_pixels`` refuses a larger image from its header, before any pixel is decoded (a
    decompression bomb of a few kilobytes never reaches memory).
    """
    try:
        with warnings.catch_warnings():
            # Pillow warns on large images and odd EXIF; one bad file must not spam the log.
            warnings.simplefilter("ignore")
            # Except a decompression bomb: Pillow only warns up to twice MAX_IMAGE_PIXELS.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if max_pixels is not None and image.size[0] * image.size[1] > max_pixels:
                    raise ImageError(f"{name} has {image.size[0]} x {image.size[1]} pixels, more than the "
                                     f"{max_pixels:,} allowed; send a smaller image")
                if draft_size is not None and image.format == "JPEG":
                    scale = min(image.size) / draft_size
                    if scale >= 2:
                        image.draft("RGB", (int(image.size[0] / scale), int(image.size[1] / scale)))
                image.load()
                upright = ImageOps.exif_transpose(image)
                eight = _to_8bit(upright)
                return eight.convert(mode) if mode is not None else eight.copy()
    except ImageError:
        raise
    # Pillow's decoders raise many types for damaged input (OSError, SyntaxError,
    # ValueError, DecompressionBombError, ...); every one of them means "not a usable image".
    except Exception as e:  # noqa: BLE001
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        if isinstance(e, UnidentifiedImageError):  # its message names the in-memory buffer, not the file
            reason = "not a format Pillow reads"
        raise ImageError(f"cannot decode {name} as an image ({reason}); {advice}") from None


def _to_8bit(image: Image.Image) -> Image.Image:
    """High-bit-depth greyscale (16-bit PNG/TIFF, 32-bit int or float) scaled to 8 bits.

    Pillow's own conversion to "L" clips every value above 255 to white, which would turn a
    16-bit scan into a white page.
    """
    if image.mode not in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return image
    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16") or (image.mode == "I" and values.max(initial=0) > 255):
        values = values / 257.0                      # 0..65535 -> 0..255
    elif image.mode == "F" and values.max(initial=0) <= 1.0:
        values = values * 255.0                      # floats in [0, 1]
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")


def resize_center_crop(image: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to ``size``, then crop the central ``size`` x ``size`` square."""
    if size < 1:
        raise ConfigError(f"image_size={size}; give 1 or more pixels")
    w, h = image.size
    scale = size / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    left, top = (new_w - size) // 2, (new_h - size) // 2
    if max(new_w, new_h) > _MAX_ASPECT * size:
        # A long thin image would resize whole into a huge one (a 94-byte PNG of 1 x 20000
        # pixels into 224 x 4.5 million at size 224): resize only the square the crop keeps,
        # given as a box in source pixels (1 level from resizing whole when enlarging, a few
        # when shrinking, where Pillow's reducing step aligns differently).
        box = (left * w / new_w, top * h / new_h, (left + size) * w / new_w, (top + size) * h / new_h)
        return image.resize((size, size), Image.Resampling.BILINEAR, box=box, reducing_gap=3.0)
    image = image.resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=3.0)
    return image.crop((left, top, left + size, top + size))


def image_to_tensor(image: Image.Image) -> Tensor:
    """A Pillow image as a uint8 ``(C, H, W)`` tensor."""
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()  # (C, H, W)
