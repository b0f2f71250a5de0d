"""Upscaling a photograph of any size and mode (Dong et al., 2016, section 4: the network on the
luminance, the chrominance by bicubic interpolation): colour as YCbCr, greyscale as luminance,
an alpha channel resized by bicubic; in tiles with a halo, so a large image fits in memory and
the result is the same as in one piece."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.apps.superres.color import rgb_to_ycbcr, ycbcr_to_rgb
from cnnkit.apps.superres.resize import bicubic, check_scale
from cnnkit.errors import ConfigError
from cnnkit.modes import device_of, frozen

__all__ = ["restore_luminance", "super_resolve"]

_Y_LOW, _Y_SPAN = 16 / 255, 219 / 255   # a grey pixel g has luminance 16/255 + 219/255 g (BT.601)


def super_resolve(model: nn.Module, image: Tensor, scale: int, *, tile: int = 256, as_uint8: bool = False) -> Tensor:
    """(C, H, W) in [0, 1], C = 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA), to (C, scale H, scale W).

    The image is processed in strips of ``tile`` rows (each with a halo as wide as the network's
    field), so memory beyond the output stays that of one strip; ``as_uint8`` returns 8-bit pixels,
    a quarter of float32's memory for a large photograph."""
    scale = check_scale(scale)
    if image.dim() != 3 or image.shape[0] not in (1, 2, 3, 4) or not image.is_floating_point():
        raise ConfigError(f"an image is (C, H, W) floats with 1 to 4 channels, got {tuple(image.shape)}")
    _check_size(model, image.shape[-2:], scale)
    _check_tile(tile)
    h, w = image.shape[-2:]
    halo = int(getattr(model, "radius", 8)) + 2          # low-resolution rows: the network's field, bicubic's 2
    out = torch.empty(image.shape[0], h * scale, w * scale, dtype=torch.uint8 if as_uint8 else torch.float32)
    for top in range(0, h, tile):
        t0, t1, bottom = max(top - halo, 0), min(top + tile + halo, h), min(top + tile, h)
        strip = _resolve(model, image[:, t0:t1], scale, tile)[:, (top - t0) * scale:(bottom - t0) * scale]
        out[:, top * scale:bottom * scale] = (strip * 255).round_() if as_uint8 else strip
    return out


def _resolve(model: nn.Module, image: Tensor, scale: int, tile: int) -> Tensor:
    """One strip of super_resolve, whole: Y by the network, CbCr and alpha by bicubic, clamped to [0, 1]."""
    colour, alpha = (image[:3], image[3:]) if image.shape[0] >= 3 else (image[:1], image[1:])
    size = (image.shape[-2] * scale, image.shape[-1] * scale)
    if colour.shape[0] == 3:
        ycbcr = rgb_to_ycbcr(colour)
        y = _restore(model, ycbcr[:1], scale, tile)
        chroma = bicubic(ycbcr[None, 1:], size)[0]
        out = ycbcr_to_rgb(torch.cat([y, chroma]))
    else:
        y = _restore(model, _Y_LOW + _Y_SPAN * colour, scale, tile)
        out = (y - _Y_LOW) / _Y_SPAN
    if alpha.numel():
        out = torch.cat([out, bicubic(alpha[None], size)[0]])
    return out.clamp_(0, 1)


def _check_tile(tile: int) -> None:
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 8:
        raise ConfigError(f"tile must be an integer >= 8 pixels, got {tile!r}")


def _check_size(model: nn.Module, size: tuple[int, int], scale: int) -> None:
    """An image too small for the network's field is refused: its output would be all border."""
    learns = getattr(model, "learns_upsampling", False)
    radius = int(getattr(model, "radius", 8))
    h, w = size
    if min(h, w) * (1 if learns else scale) <= 2 * radius:
        raise ConfigError(f"the image is {w}x{h} pixels, too small for the network's field of "
                          f"{2 * radius + 1} pixels; give an image of at least {2 * radius // (1 if learns else scale) + 1} pixels a side")


def restore_luminance(model: nn.Module, y: Tensor, scale: int, *, tile: int = 256) -> Tensor:
    """(1, h, w) low-resolution luminance to (1, scale h, scale w) through the network, tile by tile.

    Each tile of ``tile`` low-resolution pixels a side is run with a halo of the network's
    ``radius`` around it, and only its centre kept, so no seam shows where tiles meet.
    """
    _check_tile(tile)
    _check_size(model, y.shape[-2:], scale)
    return _restore(model, y, scale, tile)


def _restore(model: nn.Module, y: Tensor, scale: int, tile: int) -> Tensor:
    learns = getattr(model, "learns_upsampling", False)
    radius = int(getattr(model, "radius", 8))
    halo = radius if learns else -(-radius // scale) + 2  # low-resolution pixels; bicubic reads 2 more
    h, w = y.shape[-2:]
    device = device_of(model)
    shrink = int(getattr(model, "shrink", 0)) // 2
    out = torch.empty(1, h * scale, w * scale, dtype=y.dtype)
    with frozen(model), torch.no_grad():
        for top in range(0, h, tile):
            for left in range(0, w, tile):
                t0, l0 = max(top - halo, 0), max(left - halo, 0)
                t1, l1 = min(top + tile + halo, h), min(left + tile + halo, w)
                piece = y[None, :, t0:t1, l0:l1].to(device, torch.float32)
                if not learns:
                    piece = bicubic(piece, ((t1 - t0) * scale, (l1 - l0) * scale))
                if shrink:  # a network without padding (border="valid") sees the edge repeated
                    piece = F.pad(piece, (shrink,) * 4, mode="replicate")
                result = model(piece)[0].to(out)
                bottom, right = min(top + tile, h), min(left + tile, w)
                out[:, top * scale:bottom * scale, left * scale:right * scale] = result[
                    :, (top - t0) * scale:(bottom - t0) * scale, (left - l0) * scale:(right - l0) * scale]
    return out
