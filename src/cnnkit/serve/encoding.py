"""How images and feature maps travel between the explorer's server and its page.

Pixels are the base64 of a (C, H, W) uint8 array in C order; a feature map page is the base64
of uint8 values, each channel scaled from its own [min, max] (docs/serve.md).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import torch
from torch import Tensor

from cnnkit.errors import ConfigError

__all__ = ["decode_pixels", "encode_map", "encode_pixels", "page_channels"]


def encode_pixels(x: Tensor) -> str:
    """(C, H, W) pixels in [0, 1] as base64 uint8."""
    values = x.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().contiguous()
    return base64.b64encode(values.numpy().tobytes()).decode("ascii")


def decode_pixels(text: str, shape: tuple[int, int, int]) -> Tensor:
    """base64 uint8 of exactly ``shape`` as (C, H, W) floats in [0, 1]; one clear error otherwise."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("pixels must be base64 (A-Z, a-z, 0-9, +, /, = padding)") from None
    expected = shape[0] * shape[1] * shape[2]
    if len(raw) != expected:
        raise ConfigError(f"pixels hold {len(raw)} bytes, but the model takes {'x'.join(map(str, shape))} "
                          f"= {expected} uint8 values (C, H, W order)")
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(shape).float().div_(255)


def page_channels(channels: int, page: int, page_size: int) -> range:
    """The channel indices of one page; a page past the end is an error naming the last one."""
    pages = max(1, -(-channels // page_size))
    if page < 0 or page >= pages:
        raise ConfigError(f"page {page} does not exist: the layer has {channels} channels in {pages} "
                          f"page(s) of {page_size} (0 to {pages - 1})")
    return range(page * page_size, min(channels, (page + 1) * page_size))


def encode_map(layer: str, values: Tensor, shape: tuple[int, ...], channels: range) -> dict[str, Any]:
    """One page of a layer's output as a map: ``values`` are the page's channels, (P, H, W) or (P,),
    of a whole output of ``shape``; each channel sent as uint8 between its own min and max."""
    flat = values.detach().float().cpu().reshape(len(channels), -1)
    low, high = flat.min(1).values, flat.max(1).values
    scale = (high - low).clamp_min(1e-12)
    data = ((flat - low[:, None]) / scale[:, None]).mul(255).round().clamp(0, 255).to(torch.uint8)
    return {
        "layer": layer, "shape": list(shape), "channels": list(channels),
        "min": low.tolist(), "max": high.tolist(),
        "data": base64.b64encode(data.numpy().tobytes()).decode("ascii"),
    }
