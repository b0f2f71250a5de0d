"""Photographs in and out: scikit-image's bundled photographs (the shipped models' only training
data), a folder of the user's, and image files of any mode read and written as (C, H, W) floats.

The modes super-resolution keeps apart: greyscale (1 channel), greyscale with alpha (2), colour
(3) and colour with alpha (4). A palette image becomes colour (with alpha if it has a
transparent colour); CMYK and the other colour spaces become RGB.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from cnnkit.apps.superres.color import rgb_to_ycbcr
from cnnkit.atomic import atomic_write_bytes
from cnnkit.data.images import IMAGE_SUFFIXES, image_to_tensor, load_image
from cnnkit.errors import ConfigError, DataError, OutputError

__all__ = ["HELD_OUT_PHOTOS", "TRAIN_PHOTOS", "folder_photos", "luminance", "read_photo", "skimage_photo",
           "write_photo"]

# scikit-image 0.26's bundled photographs, greyscale ones as luminance. Training takes these; the
# held-out ones (two cats' worth of fur, a cup and a motorcycle) are for measurement only.
TRAIN_PHOTOS = ("astronaut", "brick", "camera", "cell", "clock", "coins", "grass", "gravel", "hubble_deep_field",
                "immunohistochemistry", "moon", "page", "retina", "rocket", "text")
HELD_OUT_PHOTOS = ("chelsea", "coffee", "motorcycle")   # motorcycle: the left view of stereo_motorcycle

_Y_LOW, _Y_SPAN = 16 / 255, 219 / 255   # a grey pixel g has luminance 16/255 + 219/255 g (BT.601)
_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def skimage_photo(name: str) -> Tensor:
    """One of scikit-image's bundled photographs as uint8 (C, H, W) (C = 1 or 3)."""
    from skimage import data

    loader = "stereo_motorcycle" if name == "motorcycle" else name
    if loader not in TRAIN_PHOTOS + HELD_OUT_PHOTOS + ("stereo_motorcycle",) or not hasattr(data, loader):
        raise ConfigError(f"no scikit-image photograph {name!r}; choose from {', '.join(TRAIN_PHOTOS + HELD_OUT_PHOTOS)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        array = getattr(data, loader)()
    if name == "motorcycle":
        array = array[0]
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return torch.from_numpy(array[:, :, None] if array.ndim == 2 else array).permute(2, 0, 1).contiguous()


def folder_photos(folder: str | Path) -> list[Path]:
    """The image files directly in ``folder``, sorted by name; none is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder of photographs; give a directory holding PNG or JPEG files")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                   and not p.name.startswith("."))
    if not files:
        raise DataError(f"{folder} holds no images (suffixes {', '.join(sorted(IMAGE_SUFFIXES))}); "
                        "put the training photographs there")
    return files


def read_photo(path: str | Path) -> Tensor:
    """An image file as uint8 (C, H, W) in its own mode: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA."""
    image = load_image(path, mode=None)
    mode = image.mode
    has_alpha = mode in ("LA", "La", "RGBA", "RGBa", "PA") or (mode == "P" and "transparency" in image.info)
    grey = mode in ("1", "L", "LA", "La", "I", "F", "I;16")
    target = ("LA" if has_alpha else "L") if grey else ("RGBA" if has_alpha else "RGB")
    return image_to_tensor(image.convert(target))


def luminance(image: Tensor) -> Tensor:
    """(C, H, W) pixels (uint8, or floats in [0, 1]) to their luminance Y, float (1, H, W) in [0, 1]:
    BT.601 for colour, 16/255 + 219/255 g for grey, alpha ignored."""
    x = image.float() / 255 if not image.is_floating_point() else image
    if x.shape[0] >= 3:
        return rgb_to_ycbcr(x[:3])[:1]
    return _Y_LOW + _Y_SPAN * x[:1]


def write_photo(image: Tensor, path: str | Path) -> Path:
    """Write (C, H, W) floats in [0, 1] (or uint8 pixels) as an image file (format by suffix), atomically."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise OutputError(f"{path}: an output image needs a suffix such as .png or .jpg")
    if image.dtype == torch.uint8:
        pixels = image.detach().permute(1, 2, 0).cpu().numpy()
    else:
        pixels = (image.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    mode = _MODES[pixels.shape[2]]
    picture = Image.fromarray(pixels[:, :, 0] if mode == "L" else pixels, mode=mode)
    if path.suffix.lower() in (".jpg", ".jpeg") and mode in ("LA", "RGBA"):
        raise OutputError(f"{path}: JPEG has no alpha channel; write the image as .png to keep its transparency")
    import io

    buffer = io.BytesIO()
    try:
        picture.save(buffer, format=Image.registered_extensions()[path.suffix.lower()],
                     **({"quality": 95} if path.suffix.lower() in (".jpg", ".jpeg") else {}))
    except (OSError, KeyError, ValueError) as err:
        raise OutputError(f"cannot write {path} as {path.suffix} ({err}); use .png") from None
    atomic_write_bytes(path, buffer.getvalue())
    return path
