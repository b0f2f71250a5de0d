"""``cnnkit ops demo``: an image through the lecture's filters and through one vanilla CNN stage.

The first row shows what each classic kernel computes (true convolution, 'same' borders);
the second shows the stage the lecture builds every CNN from, conv -> bias -> non-linearity
-> subsampling, applied with the same kernels as a bank: a stack of feature maps at half
the resolution.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cnnkit.ops.conv import conv2d
from cnnkit.ops.filters import FILTERS, kernel_bank
from cnnkit.ops.pool import max_pool2d, subsample

__all__ = ["filter_demo"]

_SIGNED = {"sobel-x", "sobel-y", "laplacian"}  # responses around zero: shown with grey as 0
_CAPTIONS = {
    "sobel-x": "Sobel x\n(vertical edges)",
    "sobel-y": "Sobel y\n(horizontal edges)",
    "laplacian": "Laplacian\n(second derivative)",
    "box": "box 5x5\n(low-pass)",
    "gaussian": "Gaussian σ=1.5\n(low-pass)",
}


def _signed_to_grey(y: Tensor) -> Tensor:
    return (0.5 + y / (2 * y.abs().amax().clamp_min(1e-8))).clamp(0, 1)


def _to_unit(y: Tensor) -> Tensor:
    return (y / y.amax().clamp_min(1e-8)).clamp(0, 1)


@torch.no_grad()
def filter_demo(image: Tensor, *, bias: float = -0.05) -> tuple[Tensor, list[str]]:
    """Tiles ``(T, 1, H, W)`` in [0, 1] and their captions for a greyscale ``image`` ``(1, H, W)`` in [0, 1]."""
    x = image[None].float()  # (1, 1, H, W)
    tiles, captions = [image], ["input"]
    responses = {}
    for name, make in FILTERS.items():
        kernel = make()[None, None]
        responses[name] = conv2d(x, kernel, padding="same", flip=True)[0]
        tiles.append(_signed_to_grey(responses[name]) if name in _SIGNED else responses[name].clamp(0, 1))
        captions.append(_CAPTIONS[name])
    magnitude = torch.sqrt(responses["sobel-x"] ** 2 + responses["sobel-y"] ** 2)
    tiles.append(_to_unit(magnitude))
    captions.append("|gradient|\n(edge strength)")

    bank = kernel_bank()
    maps = conv2d(x, bank, torch.full((bank.shape[0],), bias), padding="same", flip=True)  # conv + bias
    maps = max_pool2d(torch.relu(maps), 2)  # non-linearity, subsampling
    size = image.shape[-2:]
    upsample = lambda t: torch.nn.functional.interpolate(t[None], size=size, mode="nearest")[0]  # noqa: E731
    tiles.append(upsample(subsample(x, 2)[0]))
    captions.append("input, S_2\n(every 2nd pixel)")
    for name, feature in zip(FILTERS, maps[0]):
        tiles.append(upsample(_to_unit(feature)[None]))
        captions.append(f"feature map: {name}\nconv+bias, ReLU, max-pool 2")
    return torch.stack(tiles), captions
