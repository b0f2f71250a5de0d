"""The convolution playground (CNN Explainer's hyperparameter widget) on the lecture's own
operators: a small image, a kernel, a border mode, stride and dilation; the output, the output
size formula with the numbers put in, and for a small input the matrix A_w of the linear map.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from cnnkit.errors import ConfigError
from cnnkit.ops.conv import border_padding, conv2d
from cnnkit.ops.filters import box, gaussian, laplacian, sobel
from cnnkit.ops.matrix import conv_matrix

__all__ = ["KERNELS", "MATRIX_MAX_SIZE", "playground"]

KERNELS = {
    "sobel_x": lambda: sobel("x"),
    "sobel_y": lambda: sobel("y"),
    "laplacian": laplacian,
    "box": lambda: box(3),
    "gaussian": lambda: gaussian(0.85, 3),
}
MATRIX_MAX_SIZE = 8   # A_w of an n x n input has n^2 columns: shown up to 8 x 8 (64 columns)
_MAX_KERNEL = 7


def playground(size: int, kernel: str | list[list[float]], padding: str, stride: int, dilation: int,
               image: str) -> dict[str, Any]:
    """One convolution of a ``size`` x ``size`` picture, with everything the widget draws."""
    weight = _kernel(kernel)
    x = _picture(image, size)
    kh, kw = weight.shape
    pads = border_padding((size, size), (kh, kw), (stride, stride), padding, (dilation, dilation))
    sizes = [math.floor((size + before + after - dilation * (k - 1) - 1) / stride) + 1
             for (before, after), k in zip(pads, (kh, kw))]
    if min(sizes) < 1:
        raise ConfigError(f"a {kh}x{kw} kernel with dilation {dilation} spans {dilation * (max(kh, kw) - 1) + 1} "
                          f"pixels, more than the {size}x{size} input with '{padding}' borders; "
                          "make the input larger or choose 'same' or 'full'")
    output = conv2d(x[None, None], weight[None, None], padding=padding, stride=stride, dilation=dilation)[0, 0]
    matrix = None
    if size <= MATRIX_MAX_SIZE:
        matrix = conv_matrix(weight[None, None], (1, size, size), padding=padding, stride=stride,
                             dilation=dilation, dense=True).tolist()
    (top, bottom), (left, right) = pads
    formula = (f"out = floor((n + p_before + p_after - d(k - 1) - 1) / s) + 1 = "
               f"floor(({size} + {top} + {bottom} - {dilation}*{kh - 1} - 1) / {stride}) + 1 = {sizes[0]} rows, "
               f"floor(({size} + {left} + {right} - {dilation}*{kw - 1} - 1) / {stride}) + 1 = {sizes[1]} columns")
    return {"input": x.tolist(), "kernel": weight.tolist(), "output": output.tolist(),
            "output_size": list(output.shape), "padding": [list(p) for p in pads], "formula": formula,
            "matrix": matrix}


def _kernel(kernel: str | list[list[float]]) -> Tensor:
    """A named kernel of the lecture, or the user's own numbers (rectangular, at most 7 x 7, finite)."""
    if isinstance(kernel, str):
        if kernel not in KERNELS:
            raise ConfigError(f"unknown kernel {kernel!r}; use {', '.join(KERNELS)} or a list of rows")
        return KERNELS[kernel]()
    rows = len(kernel)
    if not 1 <= rows <= _MAX_KERNEL or len({len(row) for row in kernel}) != 1 or not 1 <= len(kernel[0]) <= _MAX_KERNEL:
        raise ConfigError(f"a kernel is 1 to {_MAX_KERNEL} rows of equally many (1 to {_MAX_KERNEL}) numbers")
    weight = torch.tensor(kernel, dtype=torch.float32)
    if not torch.isfinite(weight).all():
        raise ConfigError("a kernel holds finite numbers only")
    return weight


def _picture(image: str, size: int) -> Tensor:
    """The playground's input in [0, 1]: a bright square on black, or the camera man photograph."""
    if image == "square":
        x = torch.zeros(size, size)
        quarter = size // 4
        x[quarter:size - quarter, quarter:size - quarter] = 1.0
        return x
    if image == "photo":
        import skimage.data

        photo = Image.fromarray(np.asarray(skimage.data.camera())).resize((size, size), Image.Resampling.BOX)
        return torch.from_numpy(np.asarray(photo, dtype=np.float32) / 255).round(decimals=2)
    raise ConfigError(f"unknown image {image!r}; use square or photo")
